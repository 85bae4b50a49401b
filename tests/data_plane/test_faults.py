"""Upstream faults, as the client and /metrics see them.

Each fault is scripted on a real upstream (or a real socket: nothing listening, a
full accept queue): connection refused and garbage replies are 502, silence is 504
at the read deadline of the route or its service, a reset mid-body cuts the client
connection so it can never pass for a whole response, and a pooled connection that
the upstream closes just as it is reused is retried once for a GET, never for a POST.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from tests.conftest import free_port
from tests.data_plane.running_node import Response, RunningNode, read_response, read_until_cut
from tests.data_plane.scripted_upstream import (
    CloseAtHead,
    Garbage,
    HoldBody,
    Received,
    ResetMidBody,
    Respond,
    Script,
    ScriptedUpstream,
    Silence,
    StallMidBody,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def blackhole() -> Iterator[str]:
    """An address whose accept queue is full: connecting to it hangs until the connect timeout."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    address = server.getsockname()
    filler = socket.create_connection(address)  # the one connection the queue holds
    yield f"127.0.0.1:{address[1]}"
    filler.close()
    server.close()


@pytest.fixture(scope="module")
def node(
    upstream: ScriptedUpstream, blackhole: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningNode]:
    config = {
        "services": [
            {"name": "app", "targets": [{"address": upstream.address}]},
            {
                "name": "impatient",
                "targets": [{"address": upstream.address}],
                "timeouts": {"read": 0.5},
            },
            {"name": "refused", "targets": [{"address": f"127.0.0.1:{free_port()}"}]},
            {
                "name": "unreachable",
                "targets": [{"address": blackhole}],
                "timeouts": {"connect": 0.5},
            },
            {
                "name": "capped",
                "targets": [{"address": upstream.address}],
                "max_concurrent_requests": 1,
            },
            {
                "name": "fallback",
                "targets": [{"address": f"127.0.0.1:{free_port()}"}, {"address": upstream.address}],
                "retries": 1,
            },
        ],
        "routes": [
            {"name": "app", "paths": ["/**"], "service": "app"},
            {
                "name": "short-read",
                "paths": ["/short-read/**"],
                "service": "app",
                "timeouts": {"read": 0.5},
            },
            {"name": "impatient", "paths": ["/impatient/**"], "service": "impatient"},
            {"name": "refused", "paths": ["/refused/**"], "service": "refused"},
            {"name": "unreachable", "paths": ["/unreachable/**"], "service": "unreachable"},
            {
                "name": "total",
                "paths": ["/total/**"],
                "service": "app",
                "timeouts": {"total": 0.5},
            },
            {"name": "capped", "paths": ["/capped/**"], "service": "capped"},
            {"name": "fallback", "paths": ["/fallback/**"], "service": "fallback"},
        ],
    }
    running = RunningNode(tmp_path_factory.mktemp("node"), config).start()
    yield running
    running.stop()


def get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: gw.test\r\n\r\n".encode()


def assert_gateway_error(response: Response, status: int, code: str) -> None:
    assert response.status == status
    assert response.header("content-type") == "application/json"
    error = response.json()["error"]
    assert (error["code"], error["request_id"]) == (code, response.header("x-request-id"))
    assert error["message"]


# ---------------------------------------------------------------- 502


def test_a_refused_connection_is_502_with_the_json_error_body(node: RunningNode) -> None:
    assert_gateway_error(node.request(get("/refused/x")), 502, "upstream_connect_failed")


def test_a_refused_connection_is_counted_as_a_connect_error(node: RunningNode) -> None:
    before = node.metric("fleetgate_upstream_connect_errors_total", service="refused")
    node.request(get("/refused/count"))
    after = node.metric("fleetgate_upstream_connect_errors_total", service="refused")
    assert after == before + 1


GARBAGE = {
    "not http": b"this is not HTTP at all\r\n\r\n",
    "bad status line": b"HTTP/1.1 abc\r\n\r\n",
    "bad content-length": b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
    "unknown transfer coding": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nabc",
    "status out of range": b"HTTP/1.1 999 Odd\r\nContent-Length: 0\r\n\r\n",
    "head cut short": b"HTTP/1.1 200 OK\r\nContent-Le",
}


@pytest.mark.parametrize("data", GARBAGE.values(), ids=GARBAGE.keys())
def test_a_garbage_reply_is_502(node: RunningNode, scripted: ScriptedUpstream, data: bytes) -> None:
    scripted.script = lambda r: Garbage(data)
    response = node.request(get("/garbage"))
    assert response.status == 502
    assert response.json()["error"]["code"] in ("bad_upstream_response", "upstream_reset")


HUGE_HEADS = {
    "one-field": (("x-huge", "a" * (80 * 1024)),),
    "many-fields": tuple((f"x-field-{i}", "v" * 40) for i in range(4000)),  # ~200 KiB
}


@pytest.mark.parametrize("fields", HUGE_HEADS.values(), ids=HUGE_HEADS.keys())
def test_a_response_head_over_64_kib_is_502_not_a_memory_sink(
    node: RunningNode, scripted: ScriptedUpstream, fields: tuple[tuple[str, str], ...]
) -> None:
    scripted.script = lambda r: Respond(headers=fields)
    response = node.request(get("/huge-head"))
    assert response.status == 502
    assert "response head exceeds" in response.json()["error"]["message"]
    scripted.script = lambda r: Respond(headers=(("x-fine", "a" * (32 * 1024)),))
    assert node.request(get("/fine-head")).status == 200


# ---------------------------------------------------------------- 504


def test_headers_never_sent_are_504_at_the_route_read_deadline(
    node: RunningNode, scripted: ScriptedUpstream
) -> None:
    scripted.script = lambda r: Silence()
    assert_gateway_error(node.request(get("/short-read/x")), 504, "gateway_timeout")
    assert len(scripted.received()) == 1  # a read timeout is never retried


def test_headers_never_sent_are_504_at_the_service_read_deadline(
    node: RunningNode, scripted: ScriptedUpstream
) -> None:
    scripted.script = lambda r: Silence()
    assert_gateway_error(node.request(get("/impatient/x")), 504, "gateway_timeout")


def test_a_read_timeout_is_counted_in_metrics(
    node: RunningNode, scripted: ScriptedUpstream
) -> None:
    scripted.script = lambda r: Silence()
    before = node.metric("fleetgate_upstream_timeouts_total", service="impatient", kind="read")
    node.request(get("/impatient/count"))
    after = node.metric("fleetgate_upstream_timeouts_total", service="impatient", kind="read")
    assert after == before + 1


def test_a_connect_that_hangs_is_504_at_the_connect_deadline(node: RunningNode) -> None:
    assert_gateway_error(node.request(get("/unreachable/x")), 504, "gateway_timeout")


def test_a_connect_timeout_is_counted_in_metrics(node: RunningNode) -> None:
    labels = {"service": "unreachable", "kind": "connect"}
    before = node.metric("fleetgate_upstream_timeouts_total", **labels)
    node.request(get("/unreachable/count"))
    assert node.metric("fleetgate_upstream_timeouts_total", **labels) == before + 1


def test_an_answer_later_than_the_total_timeout_is_504(
    node: RunningNode, scripted: ScriptedUpstream
) -> None:
    scripted.script = lambda r: Silence()
    labels = {"service": "app", "kind": "total"}
    before = node.metric("fleetgate_upstream_timeouts_total", **labels)
    assert_gateway_error(node.request(get("/total/x")), 504, "gateway_timeout")
    assert node.metric("fleetgate_upstream_timeouts_total", **labels) == before + 1


def test_a_body_that_stalls_past_the_read_deadline_cuts_the_client(
    node: RunningNode, scripted: ScriptedUpstream
) -> None:
    scripted.script = lambda r: StallMidBody(length=100_000, sent=10_000)
    with node.connect() as sock:
        sock.sendall(get("/short-read/stall"))
        _, digest = read_until_cut(sock)
    assert digest.status == 200
    assert digest.body == 10_000 and not digest.complete


# ---------------------------------------------------------------- 503 and retries


def test_a_service_at_its_concurrency_cap_is_503(
    node: RunningNode, scripted: ScriptedUpstream
) -> None:
    hold = HoldBody()
    scripted.script = lambda r: hold
    with node.connect() as first:
        first.sendall(b"POST /capped/1 HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 1\r\n\r\n1")
        scripted.wait_for(1)
        assert_gateway_error(node.request(get("/capped/2")), 503, "service_overloaded")
        hold.release.set()
        assert read_response(first).status == 200
    assert node.request(get("/capped/3")).status == 200


def test_a_refused_target_is_retried_on_another_within_the_service_retries(
    node: RunningNode, scripted: ScriptedUpstream
) -> None:
    before = node.metric("fleetgate_upstream_connect_errors_total", service="fallback")
    # Round robin: each request meets the refused target first (its retry takes the next
    # turn); three retries fit the retry budget's steady 3 a second.
    for i in range(3):
        assert node.request(get(f"/fallback/{i}")).status == 200
    assert node.metric("fleetgate_upstream_connect_errors_total", service="fallback") > before
    assert len(scripted.wait_for(3)) == 3


# ---------------------------------------------------------------- reset mid-body


def test_a_reset_mid_body_cuts_a_content_length_response_short(
    node: RunningNode, scripted: ScriptedUpstream
) -> None:
    scripted.script = lambda r: ResetMidBody(length=100_000, sent=10_000)
    with node.connect() as sock:
        sock.sendall(get("/reset"))
        data, digest = read_until_cut(sock)
    assert digest.status == 200
    assert b"Content-Length: 100000\r\n" in data
    assert digest.body < 100_000
    assert not digest.complete


def test_a_reset_mid_body_leaves_a_chunked_response_without_its_last_chunk(
    node: RunningNode, scripted: ScriptedUpstream
) -> None:
    scripted.script = lambda r: ResetMidBody(sent=10_000, chunked=True)
    with node.connect() as sock:
        sock.sendall(get("/reset-chunked"))
        data, digest = read_until_cut(sock)
    assert digest.status == 200
    assert b"Transfer-Encoding: chunked\r\n" in data
    assert not data.endswith(b"0\r\n\r\n")
    assert not digest.complete


def test_a_reset_mid_body_is_not_retried(node: RunningNode, scripted: ScriptedUpstream) -> None:
    scripted.script = lambda r: ResetMidBody()
    with node.connect() as sock:
        sock.sendall(get("/reset-once"))
        read_until_cut(sock)
    assert len(scripted.received()) == 1


# ---------------------------------------------------------------- the keep-alive race


def pooled_connection(node: RunningNode, upstream: ScriptedUpstream) -> int:
    """Leave a fresh connection idle in the node's pool; its number at the upstream."""
    assert node.request(get("/prime")).status == 200
    (primed,) = upstream.wait_for(1)
    upstream.clear()
    return primed.connection


def close_when_reused(connection: int) -> Script:
    def script(request: Received) -> CloseAtHead | Respond:
        if request.connection == connection:
            return CloseAtHead()
        return Respond(body=b"answered on a new connection")

    return script


def test_a_get_on_a_pooled_connection_closed_by_the_upstream_is_retried_once(
    node: RunningNode, scripted: ScriptedUpstream
) -> None:
    reused = pooled_connection(node, scripted)
    scripted.script = close_when_reused(reused)
    response = node.request(get("/race"))
    assert (response.status, response.body) == (200, b"answered on a new connection")
    first, second = scripted.wait_for(2)
    assert (first.target, second.target) == ("/race", "/race")
    assert first.connection == reused and second.connection > reused


def test_a_post_on_a_pooled_connection_closed_by_the_upstream_is_not_replayed(
    node: RunningNode, scripted: ScriptedUpstream
) -> None:
    reused = pooled_connection(node, scripted)
    scripted.script = close_when_reused(reused)
    response = node.request(
        b"POST /race HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 4\r\n\r\ndata"
    )
    assert_gateway_error(response, 502, "upstream_reset")
    (request,) = scripted.wait_for(1)
    assert (request.method, request.connection) == ("POST", reused)
    assert len(scripted.received()) == 1


def test_a_get_is_retried_only_once_on_a_fresh_connection(
    node: RunningNode, scripted: ScriptedUpstream
) -> None:
    pooled_connection(node, scripted)
    scripted.script = lambda r: CloseAtHead()
    response = node.request(get("/race-twice"))
    assert_gateway_error(response, 502, "upstream_reset")
    assert len(scripted.wait_for(2)) == 2


def test_a_client_connection_answered_after_a_retry_stays_open(
    node: RunningNode, scripted: ScriptedUpstream
) -> None:
    reused = pooled_connection(node, scripted)
    scripted.script = close_when_reused(reused)
    with node.connect() as sock:
        sock.sendall(get("/race"))
        assert read_response(sock).status == 200
        sock.sendall(get("/after-race"))
        assert read_response(sock).status == 200
