"""Python CPU per proxied request, without sockets: a load-insensitive micro-bench.

One request and its upstream's response are replayed through a worker's own objects
(DownstreamConnection, Exchange, a pooled UpstreamConnection) with transports that only
count bytes, on a plain route without policies. What it prints is the process CPU time
per request, the minimum over repeats: unlike requests/s on a shared machine, it moves
only when the per-request Python does. `--profile FILE` writes a cProfile of one repeat.

`--scenario NAME...` replays instead on the node config of bench scenarios (the route
table and the measured route's policies of `bench/peers/fleetgate.py`, the credential
wrk sends), with the rate limits on a shared key table as in a worker, and prints each
scenario's figure and what it adds over `plain`: the real-path cost of a policy chain.

    python -m bench.request_cpu [--requests 20000] [--repeats 7] [--many-fields]
    python -m bench.request_cpu --scenario plain auth-api-key auth-jwt policies
    FLEETGATE_NO_EXTENSIONS=1 python -m bench.request_cpu   # the pure-Python head path
"""

from __future__ import annotations

import argparse
import cProfile
import time
from dataclasses import dataclass
from typing import Any

import uvloop

from data_plane.config.model import GatewayConfig
from data_plane.config.snapshot import build_snapshot
from data_plane.http.core import DownstreamConnection, ProxyState, UpstreamConnection
from data_plane.limits.policy import Limiters, LocalBackend
from data_plane.limits.table import KeyTable
from data_plane.metrics import WorkerMetrics
from data_plane.runtime import compile_snapshot
from data_plane.settings import Limits

# What wrk sends in the bench's plain scenario, and a browser-like request.
FEW_FIELDS = b"GET /api/v1/orders/12345 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n"
MANY_FIELDS = (
    b"GET /api/v1/orders/12345?expand=items HTTP/1.1\r\nHost: api.example.com\r\n"
    b"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0\r\n"
    b"Accept: application/json, text/plain, */*\r\nAccept-Language: en-GB,en;q=0.9\r\n"
    b"Accept-Encoding: gzip, deflate, br\r\nAuthorization: Bearer abcdefghijklmnopqrstuvwxyz\r\n"
    b"Cookie: session=0123456789abcdef; theme=dark\r\nX-Forwarded-For: 203.0.113.7\r\n"
    b"X-Request-ID: req-0123456789\r\n"
    b"traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\n"
    b"Referer: https://app.example.com/orders\r\nConnection: keep-alive\r\n\r\n"
)
BODY = b'{"id":12345,"name":"fleetgate","status":"active","region":"eu-west-1","v":1}'
# What nginx answers.
RESPONSE = (
    b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Wed, 02 Dec 2026 17:00:00 GMT\r\n"
    b"Content-Type: application/json\r\nContent-Length: %d\r\nConnection: keep-alive\r\n\r\n"
    % len(BODY)
) + BODY
CONFIG = {
    "services": [{"name": "app", "targets": [{"address": "127.0.0.1:9"}]}],
    "routes": [{"name": "orders", "paths": ["/api/**"], "service": "app"}],
}


class CountingTransport:
    """A transport that takes every write and keeps only the byte count (and how the
    first write began, to check the replayed request was answered as expected)."""

    def __init__(self) -> None:
        self.bytes = 0
        self.first = b""

    def write(self, data: bytes) -> None:
        if not self.first:
            self.first = bytes(data[:16])
        self.bytes += len(data)

    def writelines(self, parts: list[bytes]) -> None:
        for part in parts:
            self.write(part)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 40000) if name == "peername" else default

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        raise AssertionError("the replay closed a connection")

    def abort(self) -> None:
        raise AssertionError("the replay aborted a connection")


@dataclass
class Result:
    min_us: float  # CPU microseconds per request, best repeat
    median_us: float
    client_bytes: int  # per request: what the client got
    upstream_bytes: int  # per request: what the upstream got


# The bench scenarios `--scenario` replays: a route table and policies of their own.
SCENARIOS = ("plain", "auth-api-key", "auth-jwt", "policies")


@dataclass(frozen=True)
class Replay:
    """What is replayed: the node's config, the service the request goes to, the request."""

    config: dict[str, Any]
    service: str
    request: bytes


def scenario_replay(name: str, config_of: str = "") -> Replay:
    """The config a bench scenario gives the node, and the request wrk sends it;
    `config_of`: another scenario's config instead (the request stays `name`'s)."""
    from bench.peers import fleetgate
    from bench.route_table import HIT_ROUTE
    from bench.scenarios import all_scenarios

    setups = {scenario.name: scenario.setup for scenario in all_scenarios()}
    setup = setups[name]
    fields = b""
    if setup.policies or setup.auth == "api_key":
        fields = b"%s: %s\r\n" % (fleetgate.API_KEY_HEADER.encode(), fleetgate.API_KEY.encode())
    elif setup.auth == "jwt":
        fields = b"Authorization: Bearer %s\r\n" % fleetgate.jwt_material()[1].encode()
    request = FEW_FIELDS[:-2] + fields + b"\r\n"
    return Replay(fleetgate.config(9, setups[config_of or name]), HIT_ROUTE, request)


class Replayer:
    """A worker's objects set up to replay one request and its response, again and again."""

    def __init__(self, request: bytes = FEW_FIELDS, replay: Replay | None = None) -> None:
        limits = Limits()
        metrics = WorkerMetrics()
        config, service_name = CONFIG, "app"
        if replay is not None:
            config, service_name, request = replay.config, replay.service, replay.request
        snapshot = build_snapshot(GatewayConfig.model_validate(config))
        # Rate limits decide on a shared key table under the node's lock, as in a worker.
        limiters = Limiters(LocalBackend(KeyTable.open_shared(KeyTable.create_shared())))
        runtime = compile_snapshot(snapshot, limits=limits, metrics=metrics, limiters=limiters)
        self.loop = loop = uvloop.new_event_loop()
        state = ProxyState(loop, limits, metrics, runtime)
        service = runtime.services[service_name]
        client, upstream_side = CountingTransport(), CountingTransport()
        conn = DownstreamConnection(state)
        conn.connection_made(client)  # type: ignore[arg-type]
        upstream = UpstreamConnection(service.pool, 0, state)
        upstream.connection_made(upstream_side)  # type: ignore[arg-type]
        service.pool.release(upstream, state.now)
        conn.data_received(request)
        if client.first:  # answered at the edge: refused by the route's policies
            raise AssertionError(f"the replayed request was answered {client.first!r}")
        upstream.data_received(RESPONSE)
        if not client.first.startswith(b"HTTP/1.1 200 "):
            raise AssertionError(f"the replayed request was answered {client.first!r}")
        assert conn.current is None and service.pool.counters.idle == 1, "not a whole exchange"
        # Per request: what the client and the upstream got
        self.client_bytes, self.upstream_bytes = client.bytes, upstream_side.bytes

        def one() -> None:
            conn.data_received(request)
            upstream.data_received(RESPONSE)

        self.one = one

    def run(self, requests: int) -> float:
        """Replay `requests` requests; CPU microseconds per request."""
        one = self.one
        began = time.process_time()
        for _ in range(requests):
            one()
        return (time.process_time() - began) / requests * 1e6

    def profile(self, requests: int, path: str) -> None:
        profiler = cProfile.Profile()
        profiler.enable()
        self.run(requests)
        profiler.disable()
        profiler.dump_stats(path)

    def close(self) -> None:
        self.loop.close()


def measure(
    request: bytes = FEW_FIELDS,
    requests: int = 20000,
    repeats: int = 7,
    profile: str = "",
    replay: Replay | None = None,
) -> Result:
    """CPU per request of `request` on the plain CONFIG, or of `replay`'s."""
    replayer = Replayer(request, replay)
    try:
        replayer.run(min(requests, 2000))  # warm up
        if profile:
            replayer.profile(requests, profile)
        times = sorted(replayer.run(requests) for _ in range(repeats))
        return Result(
            times[0], times[len(times) // 2], replayer.client_bytes, replayer.upstream_bytes
        )
    finally:
        replayer.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.request_cpu", description=__doc__)
    parser.add_argument("--requests", type=int, default=20000, help="requests per repeat")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--many-fields", action="store_true", help="a 13-field request")
    parser.add_argument("--profile", default="", help="write a cProfile of one repeat here")
    parser.add_argument(
        "--scenario",
        nargs="+",
        choices=SCENARIOS,
        default=[],
        help="replay on these bench scenarios' node configs and requests instead",
    )
    args = parser.parse_args(argv)
    if args.scenario:
        if args.many_fields:
            parser.error("--many-fields is for the plain replay; a scenario sends its own")
        scenarios(args.scenario, args.requests, args.repeats, args.profile)
        return
    request = MANY_FIELDS if args.many_fields else FEW_FIELDS
    result = measure(request, args.requests, args.repeats, args.profile)
    print(
        f"python_us_per_request min={result.min_us:.2f} median={result.median_us:.2f}"
        f" ({args.requests} x {args.repeats}) client_bytes={result.client_bytes}"
        f" upstream_bytes={result.upstream_bytes}"
    )


def scenarios(names: list[str], requests: int, repeats: int, profile: str) -> None:
    """Each scenario's CPU per request, what it adds over `plain`, and what its route's
    policies add over the same request on the plain route (`chain`): the credential
    field read and forwarded is the head path's cost, not the chain's.

    The replays' repeats take turns, so a burst of load elsewhere on the machine lands
    on all of them alike rather than on the one measured at that moment."""
    if "plain" not in names:
        names = ["plain", *names]
    replays = {name: scenario_replay(name) for name in names}
    # The same request on the plain route, where it differs from plain's
    for name in names:
        replay = scenario_replay(name, config_of="plain")
        if replay.request != replays["plain"].request:
            replays[f"{name} on plain"] = replay
    replayers = {name: Replayer(replay=replay) for name, replay in replays.items()}
    try:
        times: dict[str, list[float]] = {name: [] for name in replayers}
        for replayer in replayers.values():
            replayer.run(min(requests, 2000))  # warm up
        for _ in range(repeats):
            for name, replayer in replayers.items():
                times[name].append(replayer.run(requests))
        if profile:  # of the last scenario named
            replayers[names[-1]].profile(requests, profile)
        best = {name: min(each) for name, each in times.items()}
        print(f"python_us_per_request, min of {repeats} x {requests}, bench scenario configs")
        for name in names:
            replayer = replayers[name]
            ordered = sorted(times[name])
            same = best.get(f"{name} on plain", best["plain"])
            print(
                f"  {name:14s} min={ordered[0]:6.2f} median={ordered[len(ordered) // 2]:6.2f}"
                f"  over plain={ordered[0] - best['plain']:+6.2f}  chain={ordered[0] - same:+6.2f}"
                f"  client_bytes={replayer.client_bytes} upstream_bytes={replayer.upstream_bytes}"
            )
    finally:
        for replayer in replayers.values():
            replayer.close()


if __name__ == "__main__":
    main()
