"""The proxy on the wire: raw bytes to a real node in front of a recording upstream."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from tests.data_plane.running_node import (
    RunningNode,
    is_closed,
    read_all,
    read_response,
    read_responses,
    read_switch,
)
from tests.data_plane.scripted_upstream import (
    AcceptUpgrade,
    Received,
    Respond,
    ScriptedUpstream,
)

pytestmark = pytest.mark.e2e


def gateway(upstream: str) -> dict[str, object]:
    return {
        "services": [{"name": "app", "targets": [{"address": upstream}]}],
        "routes": [
            {"name": "all", "hosts": ["gw.test"], "paths": ["/**"], "service": "app"},
            {
                "name": "get-only",
                "hosts": ["strict.test"],
                "paths": ["/get-only"],
                "methods": ["GET"],
                "service": "app",
            },
            {
                "name": "small",
                "hosts": ["gw.test"],
                "paths": ["/small/**"],
                "service": "app",
                "max_body_bytes": 16,
            },
            {
                "name": "edited",
                "hosts": ["gw.test"],
                "paths": ["/edited/**"],
                "service": "app",
                "request_headers": {"set": {"X-Env": "test"}, "remove": ["x-secret"]},
                "response_headers": {"add": {"X-Served-By": "fleetgate"}, "remove": ["server"]},
            },
        ],
    }


@pytest.fixture(scope="module")
def node(
    upstream: ScriptedUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningNode]:
    running = RunningNode(tmp_path_factory.mktemp("node"), gateway(upstream.address)).start()
    yield running
    running.stop()


def get(path: str, extra: str = "") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: gw.test\r\n{extra}\r\n".encode()


# ---------------------------------------------------------------- keep-alive and pipelining


def test_one_client_connection_reuses_one_upstream_connection(
    node: RunningNode, scripted: ScriptedUpstream
) -> None:
    with node.connect() as sock:
        for i in range(3):
            sock.sendall(get(f"/ka/{i}"))
            assert read_response(sock).body == f"GET /ka/{i}".encode()
    requests = scripted.wait_for(3)
    assert len({r.connection for r in requests}) == 1


def test_a_new_client_connection_reuses_the_pooled_upstream_connection(
    node: RunningNode, scripted: ScriptedUpstream
) -> None:
    for i in range(3):
        assert node.request(get(f"/pooled/{i}")).status == 200
    assert len({r.connection for r in scripted.wait_for(3)}) == 1


def test_pipelined_requests_are_answered_in_order(
    node: RunningNode, scripted: ScriptedUpstream
) -> None:
    # The first answer is the slowest: order must come from the proxy, not from luck.
    delays = {"/p/1": 0.3, "/p/2": 0.1, "/p/3": 0.0}
    scripted.script = lambda r: Respond(body=r.target.encode(), delay=delays[r.target])
    with node.connect() as sock:
        sock.sendall(get("/p/1") + get("/p/2") + get("/p/3"))
        responses = read_responses(sock, 3)
    assert [r.body for r in responses] == [b"/p/1", b"/p/2", b"/p/3"]


# ---------------------------------------------------------------- bodies and framing


def test_a_chunked_request_body_reaches_the_upstream_chunked(
    node: RunningNode, scripted: ScriptedUpstream
) -> None:
    with node.connect() as sock:
        sock.sendall(b"POST /up HTTP/1.1\r\nHost: gw.test\r\nTransfer-Encoding: chunked\r\n\r\n")
        for piece in (b"hello ", b"chunked ", b"world"):
            sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
        sock.sendall(b"0\r\n\r\n")
        assert read_response(sock).status == 200
    (request,) = scripted.wait_for(1)
    assert request.header("transfer-encoding") == "chunked"
    assert request.header("content-length") is None
    assert bytes(request.body) == b"hello chunked world"


def test_a_content_length_request_body_is_forwarded_as_sent(
    node: RunningNode, scripted: ScriptedUpstream
) -> None:
    response = node.request(b"PUT /put HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 5\r\n\r\nabcde")
    assert response.status == 200
    (request,) = scripted.wait_for(1)
    assert (request.header("content-length"), bytes(request.body)) == ("5", b"abcde")


def test_a_chunked_response_reaches_the_client_chunked(
    node: RunningNode, scripted: ScriptedUpstream
) -> None:
    body = b"a chunked answer in pieces of seven bytes"
    scripted.script = lambda r: Respond(body=body, chunked=True)
    response = node.request(get("/chunked"))
    assert response.header("transfer-encoding") == "chunked"
    assert response.body == body


def test_a_close_delimited_response_is_rechunked_for_http11(
    node: RunningNode, scripted: ScriptedUpstream
) -> None:
    scripted.script = lambda r: Respond(body=b"until close", framing=False, close=True)
    with node.connect() as sock:
        sock.sendall(get("/eof"))
        response = read_response(sock)
        assert (response.header("transfer-encoding"), response.body) == ("chunked", b"until close")
        scripted.script = lambda r: Respond(body=b"again")
        sock.sendall(get("/again"))  # the client connection survived
        assert read_response(sock).body == b"again"


def test_an_http10_client_gets_a_chunked_answer_until_close(
    node: RunningNode, scripted: ScriptedUpstream
) -> None:
    scripted.script = lambda r: Respond(body=b"for an old client", chunked=True)
    with node.connect() as sock:
        sock.sendall(b"GET /old HTTP/1.0\r\nHost: gw.test\r\n\r\n")
        response = read_response(sock)
        assert response.header("transfer-encoding") is None
        assert response.body == b"for an old client"
        assert is_closed(sock)


def test_a_head_response_keeps_content_length_and_has_no_body(
    node: RunningNode, scripted: ScriptedUpstream
) -> None:
    scripted.script = lambda r: Respond(headers=(("Content-Length", "5"),), body=b"", framing=False)
    with node.connect() as sock:
        sock.sendall(b"HEAD /head HTTP/1.1\r\nHost: gw.test\r\n\r\n")
        response = read_response(sock, head=True)
        assert (response.status, response.header("content-length")) == (200, "5")
        scripted.script = lambda r: Respond(body=b"after head")
        sock.sendall(get("/after-head"))
        assert read_response(sock).body == b"after head"


@pytest.mark.parametrize("status", [204, 304])
def test_204_and_304_are_forwarded_without_body_or_content_length(
    node: RunningNode, scripted: ScriptedUpstream, status: int
) -> None:
    scripted.script = lambda r: Respond(status=status, body=b"")
    with node.connect() as sock:
        sock.sendall(get("/nobody"))
        response = read_response(sock, head=True)
        assert response.status == status
        assert response.header("content-length") is None
        assert response.header("transfer-encoding") is None


# ---------------------------------------------------------------- fields


def test_hop_by_hop_fields_are_removed_on_the_way_up(
    node: RunningNode, scripted: ScriptedUpstream
) -> None:
    extra = (
        "Connection: keep-alive, X-Private\r\nX-Private: 1\r\nKeep-Alive: timeout=5\r\n"
        "TE: trailers\r\nProxy-Connection: keep-alive\r\nUpgrade: h2c\r\nX-Kept: yes\r\n"
    )
    assert node.request(get("/hop", extra)).status == 200
    (request,) = scripted.wait_for(1)
    names = {name.lower() for name, _ in request.headers}
    assert names.isdisjoint(
        {"connection", "x-private", "keep-alive", "te", "proxy-connection", "upgrade"}
    )
    assert request.header("x-kept") == "yes"


def test_hop_by_hop_fields_are_removed_on_the_way_down(
    node: RunningNode, scripted: ScriptedUpstream
) -> None:
    scripted.script = lambda r: Respond(
        headers=(("Connection", "X-Internal"), ("X-Internal", "1"), ("Keep-Alive", "timeout=5"))
    )
    response = node.request(get("/hop-down"))
    names = {name.lower() for name, _ in response.headers}
    assert names.isdisjoint({"x-internal", "keep-alive", "connection"})
    assert response.header("via") == "1.1 fleetgate"


def test_forwarding_fields_tell_the_upstream_about_the_client(
    node: RunningNode, scripted: ScriptedUpstream
) -> None:
    extra = "X-Forwarded-For: 203.0.113.7\r\nX-Forwarded-Proto: https\r\nVia: 1.0 edge\r\n"
    request_id = "client-id_0123.abc"
    node.request(get("/fwd", extra + f"X-Request-ID: {request_id}\r\n"))
    (request,) = scripted.wait_for(1)
    assert request.header("x-forwarded-for") == "203.0.113.7, 127.0.0.1"
    assert request.all("x-forwarded-proto") == ["http"]
    assert request.header("x-forwarded-host") == "gw.test"
    assert request.header("via") == "1.0 edge, 1.1 fleetgate"
    assert request.header("x-request-id") == request_id
    assert request.header("host") == scripted.address


def test_identity_fields_sent_by_the_client_never_reach_the_upstream(
    node: RunningNode, scripted: ScriptedUpstream
) -> None:
    extra = "X-Consumer: admin\r\nx-tenant: acme\r\nX-TENANT: other\r\nX-Consumer-Note: kept\r\n"
    node.request(get("/who", extra))
    node.request(get("/edited/who", extra))  # a route with a policy chain: the same
    for request in scripted.wait_for(2):
        assert (request.all("x-consumer"), request.all("x-tenant")) == ([], [])
        assert request.header("x-consumer-note") == "kept"


def test_an_invalid_request_id_is_replaced(node: RunningNode, scripted: ScriptedUpstream) -> None:
    node.request(get("/rid", "X-Request-ID: not valid!\r\n"))
    node.request(get("/rid", f"X-Request-ID: {'a' * 129}\r\n"))
    first, second = scripted.wait_for(2)
    for request in (first, second):
        made = request.header("x-request-id")
        assert made is not None and made != "not valid!" and len(made) <= 128
    assert first.header("x-request-id") != second.header("x-request-id")


def test_the_path_is_normalized_and_the_query_forwarded_byte_for_byte(
    node: RunningNode, scripted: ScriptedUpstream
) -> None:
    node.request(get("/a//b/./c/../%64?q=%2F%zz&x=a+b"))
    (request,) = scripted.wait_for(1)
    assert request.target == "/a/b/d?q=%2F%zz&x=a+b"


def test_the_route_header_changes_apply_both_ways(
    node: RunningNode, scripted: ScriptedUpstream
) -> None:
    scripted.script = lambda r: Respond(headers=(("Server", "upstream/1.0"),))
    response = node.request(get("/edited/x", "X-Secret: s3cret\r\nX-Env: prod\r\n"))
    (request,) = scripted.wait_for(1)
    assert request.all("x-env") == ["test"]
    assert request.header("x-secret") is None
    assert response.header("x-served-by") == "fleetgate"
    assert response.header("server") is None


# ---------------------------------------------------------------- Expect and Upgrade


def test_expect_100_continue_is_answered_before_the_body(
    node: RunningNode, scripted: ScriptedUpstream
) -> None:
    with node.connect() as sock:
        sock.sendall(
            b"POST /expect HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 4\r\n"
            b"Expect: 100-continue\r\n\r\n"
        )
        assert sock.recv(64).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        sock.sendall(b"body")
        assert read_response(sock).status == 200
    (request,) = scripted.wait_for(1)
    assert request.header("expect") is None
    assert bytes(request.body) == b"body"


def test_an_upgrade_request_is_tunnelled(node: RunningNode, scripted: ScriptedUpstream) -> None:
    scripted.script = lambda r: AcceptUpgrade()
    with node.connect() as sock:
        sock.sendall(
            b"GET /ws HTTP/1.1\r\nHost: gw.test\r\n"
            b"Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
            b"early bytes|"
        )
        response, echoed = read_switch(sock)
        assert response.status == 101
        assert response.header("upgrade") == "websocket"
        sock.sendall(b"later bytes")
        while len(echoed) < len(b"early bytes|later bytes"):
            echoed += sock.recv(1024)
        assert echoed == b"early bytes|later bytes"
    (request,) = scripted.wait_for(1)
    assert (request.header("connection"), request.header("upgrade")) == ("upgrade", "websocket")


def upgrade(path: str, early: bytes = b"") -> bytes:
    return (
        f"GET {path} HTTP/1.1\r\nHost: gw.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
    ).encode() + early


def test_a_101_the_client_did_not_ask_for_is_502(
    node: RunningNode, scripted: ScriptedUpstream
) -> None:
    scripted.script = lambda r: Respond(
        status=101, headers=(("Upgrade", "websocket"), ("Connection", "Upgrade")), body=b""
    )
    with node.connect() as sock:
        sock.sendall(get("/unasked"))
        response = read_response(sock)
        assert response.status == 502
        assert response.json()["error"]["code"] == "bad_upstream_response"
        scripted.script = lambda r: Respond(body=b"still http")
        sock.sendall(get("/after-unasked"))  # the client connection is still HTTP
        assert read_response(sock).body == b"still http"


def test_a_refused_upgrade_is_answered_and_the_connection_closed(
    node: RunningNode, scripted: ScriptedUpstream
) -> None:
    scripted.script = lambda r: Respond(status=426, body=b"not here")
    with node.connect() as sock:
        sock.sendall(upgrade("/ws-refused", b"bytes for a tunnel that never opens"))
        response = read_response(sock)
        assert (response.status, response.body) == (426, b"not here")
        assert is_closed(sock)
    scripted.wait_for(1)
    assert b"never opens" not in scripted.raw_bytes()


def test_a_client_half_close_travels_through_the_tunnel(
    node: RunningNode, scripted: ScriptedUpstream
) -> None:
    scripted.script = lambda r: AcceptUpgrade(farewell=b"|bye")
    with node.connect() as sock:
        sock.sendall(upgrade("/ws-half"))
        response, echoed = read_switch(sock)
        assert response.status == 101
        sock.sendall(b"last words")
        sock.shutdown(socket.SHUT_WR)  # the upstream sees the end, and may still answer
        echoed += read_all(sock)
    assert echoed == b"last words|bye"


def test_an_upstream_closing_the_tunnel_closes_the_client(
    node: RunningNode, scripted: ScriptedUpstream
) -> None:
    scripted.script = lambda r: AcceptUpgrade(close_on=b"quit")
    with node.connect() as sock:
        sock.sendall(upgrade("/ws-close"))
        assert read_switch(sock)[0].status == 101
        sock.sendall(b"quit")
        assert is_closed(sock)


# ---------------------------------------------------------------- the gateway's own answers


def assert_error_body(response_body: dict[str, dict[str, str]], code: str) -> None:
    error = response_body["error"]
    assert error["code"] == code
    assert error["message"]
    assert error["request_id"]


def test_an_unknown_route_is_404_with_the_json_error_body(
    node: RunningNode, scripted: ScriptedUpstream
) -> None:
    response = node.request(b"GET /not-routed HTTP/1.1\r\nHost: elsewhere.test\r\n\r\n")
    assert response.status == 404
    assert response.header("content-type") == "application/json"
    assert_error_body(response.json(), "route_not_found")
    assert response.json()["error"]["request_id"] == response.header("x-request-id")
    assert scripted.received_for("/not-routed") == []


def test_a_route_refusing_the_method_is_405_with_allow(
    node: RunningNode, scripted: ScriptedUpstream
) -> None:
    response = node.request(b"DELETE /get-only HTTP/1.1\r\nHost: strict.test\r\n\r\n")
    assert response.status == 405
    assert response.header("allow") == "GET, HEAD"
    assert_error_body(response.json(), "method_not_allowed")


def test_a_body_over_the_route_limit_is_413_before_anything_is_sent(
    node: RunningNode, scripted: ScriptedUpstream
) -> None:
    with node.connect() as sock:
        sock.sendall(b"POST /small/x HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 17\r\n\r\n")
        response = read_response(sock)
        assert response.status == 413
        assert_error_body(response.json(), "payload_too_large")
        assert is_closed(sock)
    assert scripted.received_for("/small/x") == []


def test_a_client_still_sending_its_body_reads_the_413_whole(
    node: RunningNode, scripted: ScriptedUpstream
) -> None:
    """The node answers before the body is in and drains the rest (a lingering close):
    closing at once would reset the connection under the client's unread answer."""
    body = 32 << 20
    with node.connect() as sock:
        sock.sendall(
            b"POST /small/x HTTP/1.1\r\nHost: gw.test\r\nContent-Length: %d\r\n\r\n" % body
        )
        chunk = b"x" * (1 << 16)
        for _ in range(body // len(chunk)):
            sock.sendall(chunk)  # a reset would raise here
        response = read_response(sock)
        assert response.status == 413
        assert_error_body(response.json(), "payload_too_large")
        assert is_closed(sock)
    assert scripted.received_for("/small/x") == []


def test_a_chunked_body_growing_over_the_route_limit_is_cut_at_413(
    node: RunningNode, scripted: ScriptedUpstream
) -> None:
    """A chunked body's size is known only as it comes, so its head may already be on its
    way upstream (and arrive there after this test) when the 413 cuts it: the upstream
    never gets a whole request. Its own path keeps a late head out of other tests' checks."""
    with node.connect() as sock:
        sock.sendall(
            b"POST /small/chunked HTTP/1.1\r\nHost: gw.test\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        sock.sendall(b"10\r\n" + b"x" * 16 + b"\r\n" + b"1\r\ny\r\n")
        assert read_response(sock).status == 413
        assert is_closed(sock)
    assert all(not request.complete for request in scripted.received_for("/small/chunked"))


def test_too_many_header_fields_are_431(node: RunningNode, scripted: ScriptedUpstream) -> None:
    extra = "".join(f"X-Field-{i}: {i}\r\n" for i in range(101))
    with node.connect() as sock:
        sock.sendall(get("/many", extra))
        assert read_response(sock).status == 431
        assert is_closed(sock)
    assert scripted.received_for("/many") == []


def test_a_head_over_64_kib_is_431(node: RunningNode, scripted: ScriptedUpstream) -> None:
    with node.connect() as sock:
        sock.sendall(get("/big", f"X-Big: {'v' * 70_000}\r\n"))
        assert read_response(sock).status == 431
        assert is_closed(sock)
    assert scripted.received_for("/big") == []


def test_a_head_that_never_ends_is_431_not_a_memory_sink(
    node: RunningNode, scripted: ScriptedUpstream
) -> None:
    with node.connect() as sock:
        sock.sendall(b"GET /endless HTTP/1.1\r\nHost: gw.test\r\nX-Endless: ")
        try:
            for _ in range(64):
                sock.sendall(b"v" * 4096)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the node answered and closed while we were still sending
        assert read_response(sock).status == 431


def test_a_reused_client_socket_after_a_local_error_still_works(
    node: RunningNode, scripted: ScriptedUpstream
) -> None:
    with node.connect() as sock:
        sock.sendall(b"GET /x HTTP/1.1\r\nHost: nowhere.test\r\n\r\n")
        assert read_response(sock).status == 404
        sock.sendall(get("/after-404"))
        assert read_response(sock).body == b"GET /after-404"


def _raw_socket_echo_received(request: Received) -> Respond:
    return Respond(body=bytes(request.body))


def test_a_request_half_closed_by_the_client_is_still_answered(
    node: RunningNode, scripted: ScriptedUpstream
) -> None:
    scripted.script = _raw_socket_echo_received
    with node.connect() as sock:
        sock.sendall(b"POST /half HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 4\r\n\r\nhalf")
        sock.shutdown(socket.SHUT_WR)
        assert read_response(sock).body == b"half"


def test_the_pool_shows_in_metrics(node: RunningNode, scripted: ScriptedUpstream) -> None:
    node.request(get("/metrics-probe"))
    assert node.metric("fleetgate_requests_total", route="all", service="app", code="2xx") >= 1
    assert node.metric("fleetgate_upstream_connections", service="app") >= 1
