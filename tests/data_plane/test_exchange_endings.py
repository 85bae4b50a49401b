"""However an exchange ends, it lets go of everything exactly once.

Each test drives one way to end (a whole response, an answer at the edge, a refusal,
a cut, a client gone, a timeout, a connect still in flight, a tunnel) through the
proxy's own objects on loopback (`InProcessProxy`), then checks what is left: no
target or service counted busy, no deadline watch, no backoff waiting, no upstream
connection open that should not be, and the policies' release run once.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from bisect import bisect_left
from collections.abc import Iterator
from typing import Any

import pytest

from data_plane.http.errors import ProxyError
from data_plane.http.retry import (
    BAD_RESPONSE,
    CONNECT_FAILED,
    OK,
    READ_TIMEOUT,
    RESET,
    UNAVAILABLE,
)
from data_plane.metrics import LATENCY_BOUNDS
from data_plane.policies import Call, PolicyChain, Reply
from tests.conftest import free_port
from tests.data_plane.in_process import InProcessProxy
from tests.data_plane.running_node import is_closed, read_response, read_switch
from tests.data_plane.scripted_upstream import (
    AcceptUpgrade,
    ResetMidBody,
    Respond,
    ScriptedUpstream,
    Silence,
    StreamBody,
)

# Nothing held for a request, and no upstream connection left open.
RELEASED = {
    "watched": 0,
    "backoffs": 0,
    "service_active": 0,
    "target_active": 0,
    "connections": 0,
    "app_open": 0,
    "app_idle": 0,
}


def assert_released(proxy: InProcessProxy, **expected: int) -> None:
    wanted = {**RELEASED, **expected}
    assert proxy.settled(wanted) == wanted


class Refused(ProxyError):
    status = 403
    code = "forbidden"


class Counting:
    """A policy that registers a release per request and records the answers it sees."""

    def __init__(self, verdict: Any = None) -> None:
        self.verdict = verdict
        self.calls = 0
        self.ends = 0
        self.answers: list[int] = []

    def on_request(self, call: Call) -> Any:
        self.calls += 1
        call.on_end(self._ended)
        return self.verdict

    def on_response(self, call: Call, status: int, fields: list[tuple[bytes, bytes]]) -> None:
        self.answers.append(status)

    def _ended(self) -> None:
        self.ends += 1


@pytest.fixture
def proxy(scripted: ScriptedUpstream) -> Iterator[InProcessProxy]:
    config = {
        "services": [
            {"name": "app", "targets": [{"address": scripted.address}], "timeouts": {"read": 0.3}},
            {
                "name": "retried",
                "targets": [{"address": scripted.address}],
                "retries": 1,
            },
            {"name": "refused", "targets": [{"address": f"127.0.0.1:{free_port()}"}]},
        ],
        "routes": [
            {"name": "app", "hosts": ["gw.test"], "paths": ["/**"], "service": "app"},
            {
                "name": "retried",
                "hosts": ["gw.test"],
                "paths": ["/retried/**"],
                "service": "retried",
            },
            {
                "name": "refused",
                "hosts": ["gw.test"],
                "paths": ["/refused/**"],
                "service": "refused",
            },
        ],
    }
    with InProcessProxy(config) as running:
        yield running


def reset(sock: socket.socket) -> None:
    """Close `sock` with a reset, as a client that vanished does."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def with_policy(proxy: InProcessProxy, policy: Counting, path: str = "/x") -> Counting:
    plan = proxy.plan(path)
    proxy.on_loop(lambda: setattr(plan, "chain", PolicyChain((policy,))))  # type: ignore[arg-type]
    return policy


def get(path: str, extra: str = "") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: gw.test\r\n{extra}\r\n".encode()


def outcomes(proxy: InProcessProxy, service: str = "app") -> list[int]:
    return proxy.on_loop(lambda: list(proxy.service(service).counters.outcomes))


# ---------------------------------------------------------------- answered


def test_a_whole_response_releases_everything_and_pools_the_connection(
    proxy: InProcessProxy, scripted: ScriptedUpstream
) -> None:
    policy = with_policy(proxy, Counting())
    with proxy.connect() as sock:
        sock.sendall(get("/x"))
        assert read_response(sock).status == 200
        assert_released(proxy, connections=1, app_open=1, app_idle=1)
    assert (policy.ends, policy.answers) == (1, [200])
    assert outcomes(proxy)[OK] == 1


def test_a_whole_response_counts_its_latency_once_in_the_bucket_of_that_latency(
    proxy: InProcessProxy, scripted: ScriptedUpstream
) -> None:
    assert proxy.request(get("/x")).status == 200
    assert_released(proxy, connections=0, app_open=1, app_idle=1)
    counters = proxy.service("app").counters
    buckets, latency = proxy.on_loop(lambda: (list(counters.buckets), counters.latency_sum))
    assert latency > 0 and sum(buckets) == 1
    assert buckets[bisect_left(LATENCY_BOUNDS, latency)] == 1


def test_an_answer_at_the_edge_ends_the_call_once_and_calls_no_upstream(
    proxy: InProcessProxy, scripted: ScriptedUpstream
) -> None:
    policy = with_policy(proxy, Counting(Reply(204, [(b"Vary", b"Origin")])))
    response = proxy.request(get("/edge"))
    assert (response.status, response.header("vary")) == (204, "Origin")
    assert_released(proxy)
    assert (policy.ends, policy.answers) == (1, [204])
    assert scripted.received_for("/edge") == []


def test_a_refusal_ends_the_call_once_with_the_error_seen_by_the_policies(
    proxy: InProcessProxy, scripted: ScriptedUpstream
) -> None:
    policy = with_policy(proxy, Counting(Refused("no")))
    assert proxy.request(get("/x")).status == 403
    assert_released(proxy)
    assert (policy.ends, policy.answers) == (1, [403])


class Waiting(Counting):
    """A policy that waits (as for Redis) until the test answers for it."""

    def __init__(self) -> None:
        super().__init__()
        self.pending: list[asyncio.Future[None]] = []

    def on_request(self, call: Call) -> Any:
        super().on_request(call)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.pending.append(future)
        return future


def test_a_client_gone_while_a_policy_waits_ends_the_call_once(
    proxy: InProcessProxy, scripted: ScriptedUpstream
) -> None:
    waiting, after = Waiting(), Counting()
    plan = proxy.plan("/x")
    proxy.on_loop(lambda: setattr(plan, "chain", PolicyChain((waiting, after))))  # type: ignore[arg-type]
    with proxy.connect() as sock:
        sock.sendall(get("/gone-waiting"))
        assert proxy.settled({"waiting": 1}, reading=lambda: len(waiting.pending)) == {"waiting": 1}
        reset(sock)  # gone, not half-closed: a half-closed client still gets its answer
    assert_released(proxy)
    # What the policy waited on is let go of, and the rest of the chain never runs.
    assert proxy.on_loop(lambda: waiting.pending[0].cancelled())
    assert (waiting.ends, after.calls) == (1, 0)
    assert scripted.received_for("/gone-waiting") == []


# ---------------------------------------------------------------- cut or abandoned


def test_a_reset_mid_body_cuts_the_client_and_releases_everything_once(
    proxy: InProcessProxy, scripted: ScriptedUpstream
) -> None:
    policy = with_policy(proxy, Counting())
    scripted.script = lambda r: ResetMidBody(length=100_000, sent=1_000)
    with proxy.connect() as sock:
        sock.sendall(get("/x"))
        assert is_closed(sock)
    assert_released(proxy)
    assert (policy.ends, policy.answers) == (1, [200])
    assert outcomes(proxy)[RESET] == 1


def test_a_client_gone_mid_response_releases_everything_once(
    proxy: InProcessProxy, scripted: ScriptedUpstream
) -> None:
    policy = with_policy(proxy, Counting())
    scripted.script = lambda r: StreamBody(length=64 << 20)
    with proxy.connect() as sock:
        sock.sendall(get("/x"))
        assert sock.recv(1024).startswith(b"HTTP/1.1 200")
    assert_released(proxy)
    assert policy.ends == 1


def test_a_request_that_breaks_while_its_connect_is_in_flight_leaves_no_connection(
    proxy: InProcessProxy, scripted: ScriptedUpstream
) -> None:
    policy = with_policy(proxy, Counting())
    bad_chunk = (
        b"POST /bad-chunk HTTP/1.1\r\nHost: gw.test\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"
    )
    for _ in range(20):
        assert proxy.request(bad_chunk).status == 400
    # Each connect completed after its 400: the connection it opened is closed, not leaked.
    assert_released(proxy)
    assert policy.ends == 20
    assert scripted.received_for("/bad-chunk") == []


def test_a_read_timeout_answers_504_and_releases_everything_once(
    proxy: InProcessProxy, scripted: ScriptedUpstream
) -> None:
    policy = with_policy(proxy, Counting())
    scripted.script = lambda r: Silence()
    assert proxy.request(get("/x")).status == 504
    assert_released(proxy)
    assert (policy.ends, policy.answers) == (1, [504])
    assert outcomes(proxy)[READ_TIMEOUT] == 1


# ---------------------------------------------------------------- target reports


def test_each_try_reports_how_it_ended_once(
    proxy: InProcessProxy, scripted: ScriptedUpstream
) -> None:
    answers = iter([Respond(status=503), Respond(body=b"second try")])
    scripted.script = lambda r: next(answers)
    response = proxy.request(get("/retried/x"))
    assert (response.status, response.body) == (200, b"second try")
    assert_released(proxy, retried_open=1, retried_idle=1)  # the 503's connection is gone
    reported = outcomes(proxy, "retried")
    assert (reported[UNAVAILABLE], reported[OK], sum(reported)) == (1, 1, 2)
    assert proxy.on_loop(lambda: proxy.service("retried").counters.retries) == 1


def test_a_refused_connect_and_an_unusable_reply_are_reported(
    proxy: InProcessProxy, scripted: ScriptedUpstream
) -> None:
    assert proxy.request(get("/refused/x")).status == 502
    assert outcomes(proxy, "refused")[CONNECT_FAILED] == 1
    scripted.script = lambda r: Respond(status=999, body=b"")
    assert proxy.request(get("/x")).status == 502
    assert outcomes(proxy)[BAD_RESPONSE] == 1
    assert_released(proxy)


# ---------------------------------------------------------------- tunnel


def upgrade(path: str = "/ws") -> bytes:
    return get(path, "Connection: Upgrade\r\nUpgrade: websocket\r\n")


def test_a_tunnel_holds_its_target_until_it_closes_then_releases_everything_once(
    proxy: InProcessProxy, scripted: ScriptedUpstream
) -> None:
    policy = with_policy(proxy, Counting(), "/ws")
    scripted.script = lambda r: AcceptUpgrade()
    with proxy.connect() as sock:
        sock.sendall(upgrade())
        response, _ = read_switch(sock)
        assert response.status == 101
        sock.sendall(b"ping")
        assert sock.recv(4) == b"ping"
        busy = proxy.reading()
        assert (busy["target_active"], busy["watched"], policy.ends) == (1, 0, 0)
    assert_released(proxy)
    assert (policy.ends, policy.answers) == (1, [])


def test_an_upstream_that_closes_the_tunnel_ends_it_for_the_client(
    proxy: InProcessProxy, scripted: ScriptedUpstream
) -> None:
    policy = with_policy(proxy, Counting(), "/ws")
    scripted.script = lambda r: AcceptUpgrade(close_on=b"bye")
    with proxy.connect() as sock:
        sock.sendall(upgrade())
        read_switch(sock)
        sock.sendall(b"bye")
        assert is_closed(sock)
    assert_released(proxy)
    assert policy.ends == 1
