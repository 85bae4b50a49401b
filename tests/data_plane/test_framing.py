"""Every framing rule of DESIGN.md: 400, a closed connection, and nothing upstream.

Each bad request is sent whole, in one write, on a new connection. Then a good
request on another connection proves the node went on working; the upstream must
have received that one request and not a byte of the bad one.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.data_plane.running_node import RunningNode, is_closed, read_response, read_responses
from tests.data_plane.scripted_upstream import ScriptedUpstream

pytestmark = pytest.mark.e2e

HEAD = b"POST /framing HTTP/1.1\r\nHost: gw.test\r\n"

BAD_REQUESTS = {
    "content-length with transfer-encoding": HEAD
    + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "identical duplicate content-length": HEAD
    + b"Content-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
    "different duplicate content-length": HEAD
    + b"Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
    "content-length list": HEAD + b"Content-Length: 3, 3\r\n\r\nabc",
    "content-length not a number": HEAD + b"Content-Length: 3x\r\n\r\nabc",
    "content-length with a sign": HEAD + b"Content-Length: +3\r\n\r\nabc",
    "empty content-length": HEAD + b"Content-Length: \r\n\r\n",
    "unknown transfer coding": HEAD + b"Transfer-Encoding: gzip\r\n\r\nabc",
    "transfer coding before chunked": HEAD + b"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
    "chunked twice": HEAD
    + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "transfer-encoding in http/1.0": b"POST /framing HTTP/1.0\r\nHost: gw.test\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "bad chunk size": HEAD + b"Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
    "chunk size with a space": HEAD + b"Transfer-Encoding: chunked\r\n\r\n3 \r\nabc\r\n0\r\n\r\n",
    "chunk data too long": HEAD + b"Transfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n0\r\n\r\n",
    "bare cr in a field": HEAD + b"X-A: b\rX-C: d\r\n\r\n",
    "bare cr in a value": HEAD + b"X-A: b\rc\r\n\r\n",
    "bare lf line ends": b"POST /framing HTTP/1.1\nHost: gw.test\n\n",
    "obs-fold": HEAD + b"X-A: b\r\n c\r\n\r\n",
    "space before the colon": b"POST /framing HTTP/1.1\r\nHost : gw.test\r\n\r\n",
    "control byte in a value": HEAD + b"X-A: b\x01c\r\n\r\n",
    "nul in a value": HEAD + b"X-A: b\x00c\r\n\r\n",
    "del in a value": HEAD + b"X-A: b\x7fc\r\n\r\n",
    "invalid byte in a name": HEAD + b"X(A): b\r\n\r\n",
    "missing host": b"GET /framing HTTP/1.1\r\nX-A: b\r\n\r\n",
    "duplicate host": HEAD + b"Host: other.test\r\n\r\n",
    "host with a comma": b"GET /framing HTTP/1.1\r\nHost: gw.test, evil.test\r\n\r\n",
    "encoded slash": b"GET /framing/%2Fadmin HTTP/1.1\r\nHost: gw.test\r\n\r\n",
    "encoded backslash": b"GET /framing/%5Cadmin HTTP/1.1\r\nHost: gw.test\r\n\r\n",
    "encoded nul": b"GET /framing/%00 HTTP/1.1\r\nHost: gw.test\r\n\r\n",
    "raw backslash": b"GET /framing\\admin HTTP/1.1\r\nHost: gw.test\r\n\r\n",
    "semicolon in the path": b"GET /framing;jsessionid=1 HTTP/1.1\r\nHost: gw.test\r\n\r\n",
    "invalid percent escape": b"GET /framing/%zz HTTP/1.1\r\nHost: gw.test\r\n\r\n",
    "absolute-form target": b"GET http://gw.test/framing HTTP/1.1\r\nHost: gw.test\r\n\r\n",
    "upgrade with a body": HEAD
    + b"Connection: Upgrade\r\nUpgrade: websocket\r\nContent-Length: 3\r\n\r\nabc",
    "connect": b"CONNECT gw.test:443 HTTP/1.1\r\nHost: gw.test\r\n\r\n",
    "lower-case method": b"get /framing HTTP/1.1\r\nHost: gw.test\r\n\r\n",
    "space in the target": b"GET /a b HTTP/1.1\r\nHost: gw.test\r\n\r\n",
}


@pytest.fixture(scope="module")
def node(
    upstream: ScriptedUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningNode]:
    config = {
        "services": [{"name": "app", "targets": [{"address": upstream.address}]}],
        "routes": [{"name": "all", "paths": ["/**"], "service": "app"}],
    }
    running = RunningNode(tmp_path_factory.mktemp("node"), config).start()
    yield running
    running.stop()


def assert_upstream_saw_only_a_good_request(node: RunningNode, upstream: ScriptedUpstream) -> None:
    assert node.request(b"GET /good HTTP/1.1\r\nHost: gw.test\r\n\r\n").status == 200
    (request,) = upstream.wait_for(1)
    assert request.target == "/good"
    assert b"/framing" not in upstream.raw_bytes()


@pytest.mark.parametrize("data", BAD_REQUESTS.values(), ids=BAD_REQUESTS.keys())
def test_ambiguous_framing_is_400_closed_and_never_forwarded(
    node: RunningNode, scripted: ScriptedUpstream, data: bytes
) -> None:
    with node.connect() as sock:
        sock.sendall(data)
        response = read_response(sock)
        assert response.status == 400
        assert response.header("connection") == "close"
        assert response.json()["error"]["code"] in ("bad_request", "bad_path")
        assert is_closed(sock)
    assert_upstream_saw_only_a_good_request(node, scripted)


@pytest.mark.parametrize("version", [b"HTTP/2.0", b"HTTP/0.9"])
def test_versions_other_than_1_0_and_1_1_are_505(
    node: RunningNode, scripted: ScriptedUpstream, version: bytes
) -> None:
    with node.connect() as sock:
        sock.sendall(b"GET /framing " + version + b"\r\nHost: gw.test\r\n\r\n")
        assert read_response(sock).status == 505
        assert is_closed(sock)
    assert_upstream_saw_only_a_good_request(node, scripted)


def test_a_bad_request_pipelined_after_a_good_one_is_answered_after_it(
    node: RunningNode, scripted: ScriptedUpstream
) -> None:
    # Targets of its own: a head an earlier test cut may still reach the upstream.
    bad = b"POST /pipelined-bad HTTP/1.1\r\nHost: gw.test\r\nX-A: b\r\n c\r\n\r\n"
    with node.connect() as sock:
        sock.sendall(b"GET /pipelined-first HTTP/1.1\r\nHost: gw.test\r\n\r\n" + bad)
        first, second = read_responses(sock, 2)
        assert (first.status, first.body, second.status) == (200, b"GET /pipelined-first", 400)
        assert is_closed(sock)
    assert len(scripted.received_for("/pipelined-first")) == 1
    assert scripted.received_for("/pipelined-bad") == []


def test_an_http10_request_without_host_is_served(
    node: RunningNode, scripted: ScriptedUpstream
) -> None:
    assert node.request(b"GET /old HTTP/1.0\r\n\r\n").status == 200
