"""What a proxy under test is to the harness: how to start it for a scenario's setup."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from bench.toolchain import Toolchain


@dataclass(frozen=True)
class Setup:
    """What a scenario asks of a proxy."""

    routes: int = 1  # routes in the proxy's table; the measured one among them
    policies: bool = False  # API-key auth and a rate limit on the measured route
    rate_limit_backend: str = "local"  # of that rate limit: "local" or "redis" (REDIS_URL)
    auth: str = ""  # "api_key" or "jwt": that auth alone on the measured route
    workers: int = 1
    access_log: bool = False  # fleetgate writes its JSON access log to a file
    tls: bool = False  # clients speak HTTPS to the proxy (ports.tls), the upstream plain HTTP
    new_connections: bool = False  # one request per connection: a handshake per request


@dataclass(frozen=True)
class Check:
    """An answer the started proxy must give before it is measured: proof of its setup."""

    why: str
    path: str
    status: int
    port: int | None = None  # default: the proxy port
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Launch:
    """How to start a proxy and what to send it."""

    argv: list[str]
    start_deadline_s: float = 20.0
    # Sent by the readiness probe and by wrk with every request.
    headers: dict[str, str] = field(default_factory=dict)
    checks: tuple[Check, ...] = ()
    # Set in the proxy's environment, over the harness's own.
    env: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Ports:
    """Where the proxy listens and where its upstream is."""

    proxy: int
    upstream: int
    tls: int = 0  # the proxy's HTTPS port, when the setup asks for TLS


class Peer(Protocol):
    """One proxy the bench compares."""

    name: str

    def unsupported(self, setup: Setup) -> str | None:
        """Why this peer cannot run `setup`, or None when it can."""

    def launch(self, tools: Toolchain, workdir: Path, ports: Ports, setup: Setup) -> Launch:
        """Write what the proxy needs into `workdir` and say how to start it."""
