"""The status server is bounded like the proxy: a long target is 414, a big request 431, a
slow one 408, and its 404 never repeats what it was sent. Raw bytes against a real node."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator

import pytest

from data_plane import status
from tests.data_plane.running_node import RunningNode, catch_all, read_response
from tests.data_plane.scripted_upstream import ScriptedUpstream

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def node(
    upstream: ScriptedUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningNode]:
    running = RunningNode(tmp_path_factory.mktemp("status"), catch_all(upstream.address)).start()
    yield running
    running.stop()


def connect(node: RunningNode) -> socket.socket:
    return socket.create_connection(("127.0.0.1", node.status_port), timeout=30)


def ask(node: RunningNode, data: bytes) -> tuple[int, bytes]:
    with connect(node) as sock:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(data)  # may be refused mid-send: the answer is on its way
        answer = read_response(sock)
        return answer.status, answer.body


def test_an_unknown_page_is_404_without_the_path_in_it(node: RunningNode) -> None:
    code, body = ask(node, b"GET /%3Cscript%3Ealert(1)%3C/script%3E HTTP/1.1\r\nHost: s\r\n\r\n")
    assert code == 404
    assert b"script" not in body and b"/health" in body


def test_a_long_target_is_414(node: RunningNode) -> None:
    target = b"/" + b"a" * (status.MAX_URL_BYTES + 10)
    code, _ = ask(node, b"GET " + target + b" HTTP/1.1\r\nHost: s\r\n\r\n")
    assert code == 414


def test_a_large_request_is_431(node: RunningNode) -> None:
    fields = b"".join(b"X-F%d: %s\r\n" % (i, b"v" * 1000) for i in range(40))
    code, _ = ask(node, b"GET /health HTTP/1.1\r\nHost: s\r\n" + fields + b"\r\n")
    assert code == 431


def test_a_request_never_finished_is_408_and_closed(node: RunningNode) -> None:
    with connect(node) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: s\r\n")  # no blank line, ever
        answer = read_response(sock)
        assert answer.status == 408
        assert sock.recv(1) == b""


def test_the_pages_still_answer(node: RunningNode) -> None:
    assert ask(node, b"GET /health HTTP/1.1\r\nHost: s\r\n\r\n") == (200, b'{"status":"ok"}')
