"""The per-request cost of a route's policy chain, in process: no sockets, no peers.

Each case compiles a config the way a worker does (`compile_snapshot`), takes the chain
of its measured route and runs what the exchange runs for one request: a `Call` on a
fresh request head, `on_request`, `on_response` on the upstream's fields, `end`. The
figure is the minimum over many short repeats, less the cost of making the head alone:
short repeats are rarely interrupted, so the minimum holds on a busy machine where a
throughput bench does not. The local rate limits decide on a key table in shared memory
with the lock a node uses, as in a worker.

    python -m bench.policies [--repeats 301] [--number 200]
"""

from __future__ import annotations

import argparse
import timeit
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.peers import fleetgate
from bench.peers.base import Setup
from bench.route_table import HIT_ROUTE
from bench.upstream import HIT_PATH
from data_plane.config.model import GatewayConfig
from data_plane.config.snapshot import build_snapshot
from data_plane.http.forwarding import route_request
from data_plane.http.request import Headers, RequestHead
from data_plane.limits.counters import SharedCounters
from data_plane.limits.policy import Limiters, LocalBackend
from data_plane.limits.table import KeyTable
from data_plane.metrics import WorkerMetrics
from data_plane.policies import Call, PolicyChain
from data_plane.runtime import compile_snapshot
from data_plane.settings import Limits

UPSTREAM_FIELDS: Headers = [(b"content-type", b"application/json"), (b"content-length", b"76")]
TIERS = {
    "tiers": [
        {
            "name": "PRO",
            "requests_per_second": 100_000,
            "requests_per_minute": 1_000_000,
            "monthly_quota": 1_000_000_000,
            "max_concurrent_requests": 10_000,
        }
    ],
    "tenants": [{"name": "acme", "tier": "PRO"}],
}


@dataclass(frozen=True)
class Case:
    name: str
    config: dict[str, Any]
    fields: Headers  # the request's end-to-end fields, beside Host


def cases() -> list[Case]:
    """The bench scenarios' routes (`bench/peers/fleetgate.py`), and one with a tier."""
    api_key: Headers = [(fleetgate.API_KEY_HEADER.encode(), fleetgate.API_KEY.encode())]
    token: Headers = [(b"authorization", b"Bearer " + fleetgate.jwt_material()[1].encode())]
    tiered = fleetgate.config(9, Setup(policies=True))
    tiered.update(TIERS)
    tiered["consumers"][0]["tenant"] = "acme"
    for route in tiered["routes"]:
        if route["name"] == HIT_ROUTE:
            route["rate_limit"]["use_tier"] = True
    return [
        Case("auth-api-key", fleetgate.config(9, Setup(auth="api_key")), api_key),
        Case("auth-jwt (cached)", fleetgate.config(9, Setup(auth="jwt")), token),
        Case("policies (local)", fleetgate.config(9, Setup(policies=True)), api_key),
        Case("policies + tier", tiered, api_key),
    ]


def chain_of(case: Case) -> PolicyChain:
    snapshot = build_snapshot(GatewayConfig.model_validate(case.config))
    limiters = Limiters(
        LocalBackend(KeyTable.open_shared(KeyTable.create_shared())),
        inflight=SharedCounters.open(SharedCounters.create(1)),
        quotas=SharedCounters.open(SharedCounters.create(1)),
    )
    runtime = compile_snapshot(
        snapshot, limits=Limits(), metrics=WorkerMetrics(), limiters=limiters
    )
    head = _head([])
    plan, _ = route_request(runtime.table, head)
    if plan.name != HIT_ROUTE or plan.chain is None:
        raise LookupError(f"{case.name}: the route {HIT_ROUTE} has no policies")
    return plan.chain


def _head(fields: Headers) -> RequestHead:
    head = RequestHead(b"GET", HIT_PATH.encode(), b"1.1", True)
    head.path = HIT_PATH
    head.host = b"127.0.0.1"
    head.headers = [(b"host", b"127.0.0.1"), *fields]
    return head


def one_request(chain: PolicyChain, fields: Headers) -> Callable[[], None]:
    def run() -> None:
        call = Call(_head(fields), "127.0.0.1", b"")
        verdict = chain.on_request(call)
        if verdict is not None:
            raise AssertionError(f"the chain answered {verdict!r}")
        chain.on_response(call, 200, list(UPSTREAM_FIELDS))
        call.end()

    return run


def head_alone(fields: Headers) -> Callable[[], None]:
    def run() -> None:
        _head(fields)
        list(UPSTREAM_FIELDS)

    return run


def microseconds(run: Callable[[], None], number: int, repeats: int) -> float:
    return min(timeit.repeat(run, number=number, repeat=repeats)) / number * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.policies", description=__doc__)
    parser.add_argument("--repeats", type=int, default=301, help="repeats; the minimum counts")
    parser.add_argument("--number", type=int, default=200, help="requests per repeat")
    args = parser.parse_args(argv)
    table = KeyTable.open_shared(KeyTable.create_shared(64))
    print(
        f"per request, in process, min of {args.repeats} x {args.number};"
        f" shared key table: {table.lock!r}"
    )
    table.close()
    for case in cases():
        chain = chain_of(case)
        cost = microseconds(one_request(chain, case.fields), args.number, args.repeats)
        base = microseconds(head_alone(case.fields), args.number, args.repeats)
        print(f"  {case.name:20s} {cost - base:6.2f} us   {chain!r}")
    return 0
