"""A node's settings: its addresses, worker count and the limits the proxy enforces.

Flags come from `fleetgate data-plane` (and their `FLEETGATE_<FLAG>` environment
twins). The limits have no flag of their own: their defaults follow the precedents
named below, and an operator who must change one sets its `FLEETGATE_<LIMIT>`
environment variable. Everything is checked once, here; a bad value names its source.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields

from data_plane.config.syntax import Network, parse_host_port
from data_plane.policies.clients import TRUSTED_PROXIES_VARIABLE, parse_trusted_proxies

LISTEN = "0.0.0.0:8080"  # the proxy
STATUS_LISTEN = "127.0.0.1:9901"  # health, readiness and metrics
CACHE_DIR = "fleetgate-cache"  # the last good snapshot's directory, in the working one by default
ACCESS_LOG = "-"  # standard output


class SettingsError(ValueError):
    """A flag or environment variable holds a value the node cannot use; names it."""


def parse_address(value: str, source: str) -> tuple[str, int]:
    """`HOST:PORT` (IPv6 hosts in brackets) as (host, port); raises SettingsError."""
    try:
        return parse_host_port(value)
    except ValueError as exc:
        raise SettingsError(f"{source}: {exc}") from None


@dataclass(frozen=True, slots=True)
class Limits:
    """What one downstream connection and one request may use.

    Precedents: 64 KiB of headers and 100 header fields are Envoy's
    `max_request_headers_kb` order of magnitude and its `max_headers_count`; 30 s to
    send the request head is a slow-loris guard like nginx's `client_header_timeout`
    (60 s) but tighter; 60 s of keep-alive idleness is nginx's 75 s rounded under the
    usual 60 s of cloud load balancers, and the same 60 s cut a client that takes no
    response bytes while the upstream waits (nginx's `send_timeout`, 60 s); 64 MiB of
    body unless the route says otherwise.
    Upstream keep-alive connections are dropped after 3 s idle, under the 5 s default of
    Node.js and uvicorn, so the upstream never closes one the pool is about to reuse.
    Up to 1,024 of them stay idle per target, the order of Envoy's 1,024-connection
    default: a pool smaller than the requests in flight closes and reopens a connection
    per request (with 1,000 busy clients and 128, throughput halved and some requests
    waited a second), while the 3 s sweep still returns what a burst opened.
    A worker whose event loop has not answered the supervisor for 10 s is stuck (Envoy's
    watchdog calls a thread stuck after 200 ms and kills the process after 60 s; a worker
    here serves thousands of connections, and a config swap's collection takes well under
    a second): it is killed and replaced.
    """

    max_header_bytes: int = 64 * 1024
    max_header_count: int = 100
    header_timeout: float = 30.0
    idle_timeout: float = 60.0
    max_connections: int = 10_000
    max_body_bytes: int = 64 * 1024 * 1024
    upstream_idle_timeout: float = 3.0
    upstream_max_idle: int = 1024
    drain_timeout: float = 10.0
    worker_stall_timeout: float = 10.0

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Limits:
        """Defaults, overridden by `FLEETGATE_<NAME>` variables (e.g. FLEETGATE_HEADER_TIMEOUT)."""
        environ = os.environ if environ is None else environ
        values: dict[str, float | int] = {}
        for spec in fields(cls):
            variable = "FLEETGATE_" + spec.name.upper()
            raw = environ.get(variable)
            if raw is None:
                continue
            kind = int if spec.type in ("int", int) else float
            try:
                value = kind(raw)
            except ValueError:
                raise SettingsError(f"{variable}: {raw!r} is not a number") from None
            if value <= 0:
                raise SettingsError(f"{variable}: must be greater than 0, got {raw!r}")
            values[spec.name] = value
        return cls(**values)  # type: ignore[arg-type]

    def as_environment(self) -> dict[str, str]:
        """These limits as the variables `from_environment` reads: how workers inherit them."""
        return {"FLEETGATE_" + f.name.upper(): str(getattr(self, f.name)) for f in fields(self)}


@dataclass(frozen=True, slots=True)
class NodeSettings:
    """The `data-plane` flags a node runs with, checked."""

    listen: tuple[str, int]
    status_listen: tuple[str, int]
    workers: int
    config_file: str | None = None
    control_plane: str | None = None
    cache_dir: str = f"./{CACHE_DIR}"  # as --help shows it
    node_id: str | None = None
    labels: tuple[str, ...] = ()
    access_log: str = ACCESS_LOG  # a file, "-" (standard output) or "off"
    redis_url: str | None = None  # the Redis of `backend: redis` rate limits
    https_listen: tuple[str, int] | None = None  # the HTTPS listener, off when None
    # Peers whose X-Forwarded-For is believed (policies/clients.py); none by default
    trusted_proxies: tuple[Network, ...] = ()
    limits: Limits = field(default_factory=Limits)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> NodeSettings:
        workers = int(args.workers or 0)
        if workers < 0:
            raise SettingsError(f"--workers: must be 0 (one per core) or more, got {workers}")
        return cls(
            listen=parse_address(args.listen, "--listen"),
            status_listen=parse_address(args.status_listen, "--status-listen"),
            workers=workers or (os.cpu_count() or 1),
            config_file=args.config,
            control_plane=args.control_plane,
            cache_dir=args.cache_dir,
            node_id=args.node_id,
            labels=tuple(args.label or ()),
            access_log=_access_log(getattr(args, "access_log", ACCESS_LOG)),
            redis_url=_redis_url(getattr(args, "redis_url", None)),
            https_listen=(
                parse_address(args.https_listen, "--https-listen")
                if getattr(args, "https_listen", None)
                else None
            ),
            trusted_proxies=_trusted_proxies(getattr(args, "trusted_proxies", None)),
            limits=Limits.from_environment(),
        )


def _redis_url(value: str | None) -> str | None:
    """`--redis-url`: redis://, rediss:// or unix:// with a host or path; raises SettingsError."""
    if not value:
        return None
    scheme, sep, rest = value.partition("://")
    if (
        scheme not in ("redis", "rediss", "unix")
        or not sep
        or not rest
        or len(value) > 4096
        or any(c.isspace() or ord(c) < 32 for c in value)
    ):
        raise SettingsError(
            "--redis-url: expected redis://[:password@]host[:port][/db], rediss://... or"
            " unix:///path"
        )
    return value


def _trusted_proxies(value: str | None) -> tuple[Network, ...]:
    """`--trusted-proxies` (its default: FLEETGATE_TRUSTED_PROXIES): CIDRs separated by
    commas; raises SettingsError naming the flag and the bad item."""
    if value is None:
        value = os.environ.get(TRUSTED_PROXIES_VARIABLE, "")
    try:
        return parse_trusted_proxies(value, f"--trusted-proxies ({TRUSTED_PROXIES_VARIABLE})")
    except ValueError as exc:
        raise SettingsError(str(exc)) from None


def _access_log(value: str) -> str:
    """`--access-log`: "-", "off", or a file whose directory exists; raises SettingsError."""
    if value in ("-", "off"):
        return value
    if not value or "\x00" in value or len(value) > 4096:
        raise SettingsError(f"--access-log: expected -, off or a file name, got {value!r}")
    directory = os.path.dirname(os.path.abspath(value))
    if not os.path.isdir(directory):
        raise SettingsError(f"--access-log: the directory {directory} does not exist")
    if os.path.isdir(value):
        raise SettingsError(f"--access-log: {value} is a directory")
    return os.path.abspath(value)
