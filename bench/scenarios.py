"""The scenarios of a bench run: what each proxy is set up with and how it is loaded."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from bench.peers.base import Setup
from bench.upstream import HIT_PATH, LARGE_PATH

ALL_PEERS = (
    "nginx",
    "fleetgate",
    "fleetgate-py",
    "haproxy",
    "bare-python",
    "aiohttp",
    "fastapi-httpx",
)
ROUTERS = ("nginx", "fleetgate", "fleetgate-py")
TLS_PEERS = ("nginx", "fleetgate")
SCALING_WORKERS = (1, 2, 4, 8)


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    setup: Setup = field(default_factory=Setup)
    path: str = HIT_PATH
    connections: int = 64
    threads: int = 1
    peers: tuple[str, ...] = ALL_PEERS
    # Scenarios of one group are summarized together (scaling efficiency).
    group: str = ""


def scaling_workers(cores: int) -> list[int]:
    """Worker counts that leave half the cores to wrk and the upstream."""
    return [n for n in SCALING_WORKERS if 2 * n <= cores]


def all_scenarios(cores: int | None = None) -> list[Scenario]:
    """Every scenario, in the order a full run measures them."""
    cores = cores or os.cpu_count() or 1
    scenarios = [
        Scenario("plain", "one route, 76-byte JSON answer"),
        Scenario(
            "access-log",
            "plain, with fleetgate's JSON access log written to a file (compare with plain)",
            Setup(access_log=True),
            peers=("nginx", "fleetgate"),
        ),
        *(
            Scenario(
                f"routes-{n}",
                f"{n:,} routes, the hit one mid-table",
                Setup(routes=n),
                peers=ROUTERS,
            )
            for n in (10, 1_000, 10_000)
        ),
        Scenario(
            "policies",
            "fleetgate with API-key auth and a local rate limit; nginx plain",
            Setup(policies=True),
            peers=ROUTERS,
        ),
        Scenario(
            "policies-redis",
            "policies with the rate limit on Redis (127.0.0.1:6379); nginx plain",
            Setup(policies=True, rate_limit_backend="redis"),
            peers=ROUTERS,
        ),
        Scenario(
            "auth-api-key",
            "fleetgate with API-key auth on the route; nginx plain",
            Setup(auth="api_key"),
            peers=ROUTERS,
        ),
        Scenario(
            "auth-jwt",
            "fleetgate with JWT auth (RS256, the token cached) on the route; nginx plain",
            Setup(auth="jwt"),
            peers=ROUTERS,
        ),
        Scenario(
            "conns-1000",
            "1,000 keep-alive connections, 1,000 routes where the proxy routes",
            Setup(routes=1_000),
            connections=1_000,
        ),
        Scenario("large-1mib", "1 MiB answer, 16 connections", path=LARGE_PATH, connections=16),
        Scenario(
            "tls",
            "HTTPS in (keep-alive, ECDSA P-256), plain HTTP to the upstream",
            Setup(tls=True),
            peers=TLS_PEERS,
        ),
        Scenario(
            "tls-handshakes",
            "HTTPS in, a new connection (a full handshake) per request, 16 connections",
            Setup(tls=True, new_connections=True),
            connections=16,
            peers=TLS_PEERS,
        ),
    ]
    workers = scaling_workers(cores)
    if len(workers) > 1:
        scenarios += [
            Scenario(
                f"workers-{n}",
                f"{n} worker(s), wrk with {n} thread(s) and {64 * n} connections",
                Setup(workers=n),
                connections=64 * n,
                threads=n,
                peers=("nginx", "fleetgate", "haproxy"),
                group="scaling",
            )
            for n in workers
        ]
    return scenarios


def scaling_unavailable(cores: int | None = None) -> str | None:
    """Why the scaling scenarios are left out on this machine, or None."""
    cores = cores or os.cpu_count() or 1
    if len(scaling_workers(cores)) > 1:
        return None
    return (
        "scaling needs at least 4 cores (2 workers, plus wrk and the upstream); "
        f"this machine has {cores}"
    )
