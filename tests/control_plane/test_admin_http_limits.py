"""The admin port as a client on the wire sees it: a bounded request head (431, 414) and
the JSON error body on the answers the HTTP server makes itself; the SQLite store is
created readable by its owner only. A real `fleetgate control-plane` process."""

from __future__ import annotations

import contextlib
import json
import socket
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from control_plane.api.http_protocol import MAX_HEAD_BYTES, MAX_URL_BYTES
from tests.data_plane.running_node import read_response
from tests.sync.fleet import ControlPlane, running

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    tmp = tmp_path_factory.mktemp("admin")
    process = ControlPlane(tmp, "cp", f"sqlite:///{tmp / 'store.db'}")
    process.db_file = tmp / "store.db"  # type: ignore[attr-defined]
    with running(process):
        process.start().wait_healthy()
        yield process


def ask(control_plane: ControlPlane, data: bytes) -> tuple[int, dict[str, dict[str, str]]]:
    with socket.create_connection(("127.0.0.1", control_plane.admin_port), timeout=30) as sock:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(data)  # may be refused mid-send: the answer is on its way
        answer = read_response(sock)
        return answer.status, json.loads(answer.body)


def test_a_head_over_the_limit_is_431_with_the_error_body(control_plane: ControlPlane) -> None:
    big = b"X-Big: " + b"a" * (MAX_HEAD_BYTES + 1) + b"\r\n"
    status, body = ask(control_plane, b"GET /health HTTP/1.1\r\nHost: cp\r\n" + big + b"\r\n")
    assert status == 431
    assert body["error"]["code"] == "headers_too_large" and body["error"]["request_id"]


def test_a_32_mb_header_is_refused_before_it_is_read(control_plane: ControlPlane) -> None:
    with socket.create_connection(("127.0.0.1", control_plane.admin_port), timeout=30) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: cp\r\nX-Big: ")
        chunk = b"a" * 65536
        sent = 0
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            while sent < 32 * 1024 * 1024:
                sock.sendall(chunk)
                sent += len(chunk)
        assert sent < 32 * 1024 * 1024, "the whole 32 MB header was taken"
        assert read_response(sock).status == 431


def test_many_fields_are_431(control_plane: ControlPlane) -> None:
    fields = b"".join(b"X-F%d: v\r\n" % i for i in range(150))
    status, _ = ask(control_plane, b"GET /health HTTP/1.1\r\nHost: cp\r\n" + fields + b"\r\n")
    assert status == 431


def test_a_long_target_is_414(control_plane: ControlPlane) -> None:
    target = b"/api/v1/services?name=" + b"a" * MAX_URL_BYTES
    status, body = ask(control_plane, b"GET " + target + b" HTTP/1.1\r\nHost: cp\r\n\r\n")
    assert status == 414 and body["error"]["code"] == "uri_too_long"


def test_a_malformed_request_is_400_with_the_error_body(control_plane: ControlPlane) -> None:
    status, body = ask(control_plane, b"GET /health HTTP/1.1\r\nBad Header\r\n\r\n")
    assert status == 400
    assert body["error"]["code"] == "bad_request"


def test_the_sqlite_store_is_created_for_its_owner_only(control_plane: ControlPlane) -> None:
    path: Path = control_plane.db_file  # type: ignore[attr-defined]
    for name in (path, path.with_name(path.name + "-wal")):
        if name.exists():
            assert stat.S_IMODE(name.stat().st_mode) == 0o600, name
