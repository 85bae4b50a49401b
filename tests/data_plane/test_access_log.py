"""The node's access log on real processes: a JSON line per request, request ids that match
the response, errors logged with their cause while the client reads none of it, rotation
on SIGUSR1."""

from __future__ import annotations

import calendar
import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from data_plane import access_lines, access_log
from data_plane.access_log import FLUSH_BYTES, AccessLog, text
from data_plane.http.errors import BadRequest, ProxyError
from tests.conftest import free_port
from tests.data_plane.running_node import RunningNode, catch_all, read_responses
from tests.data_plane.scripted_upstream import Respond, ScriptedUpstream, StreamBody
from tests.data_plane.test_access_lines import compiled_or_skip

FIELDS = {
    "ts", "request_id", "client", "method", "path", "host", "route", "service", "target",
    "status", "bytes_in", "bytes_out", "duration_ms", "upstream_ms", "consumer", "tenant",
    "config", "version", "error",
}  # fmt: skip
WAIT = 10.0
KEY = "access-log-test-key-0123456789abcdef"


def lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def wait_lines(path: Path, count: int) -> list[dict[str, Any]]:
    """The access log's lines once it holds `count` (flushed within a second)."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        found = lines(path)
        if len(found) >= count:
            assert len(found) == count, found
            return found
        time.sleep(0.05)
    raise AssertionError(f"expected {count} access-log lines, found {lines(path)}")


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory, upstream: ScriptedUpstream) -> Iterator[Any]:
    directory = tmp_path_factory.mktemp("access-log")
    access_log = directory / "access.log"
    dead = f"127.0.0.1:{free_port()}"
    config = catch_all(upstream.address)
    config["services"].append({"name": "gone", "targets": [{"address": dead}], "retries": 0})
    config["routes"] = [
        {"name": "gone", "paths": ["/gone/**"], "service": "gone"},
        {"name": "app", "paths": ["/app/**"], "service": "app"},
        {"name": "keys", "paths": ["/keys/**"], "service": "app", "auth": {"methods": ["api_key"]}},
    ]
    config["tiers"] = [{"name": "PRO", "requests_per_minute": 1000}]
    config["tenants"] = [{"name": "acme", "tier": "PRO"}]
    config["consumers"] = [
        {"name": "alice", "tenant": "acme", "api_keys": [{"id": "k", "key": KEY}]}
    ]
    running = RunningNode(directory, config, env={"FLEETGATE_ACCESS_LOG": str(access_log)})
    running.start()
    running.access_log = access_log  # type: ignore[attr-defined]
    running.dead = dead  # type: ignore[attr-defined]
    yield running
    running.stop()


@pytest.fixture
def log(node: Any) -> Path:
    """The node's access log, emptied (the node appends to it). Every test waits for its
    own lines, so none of an earlier test's arrives after this."""
    path: Path = node.access_log
    path.write_bytes(b"")
    return path


def test_a_proxied_request_is_one_line_with_every_field(
    node: Any, log: Path, scripted: ScriptedUpstream
) -> None:
    scripted.script = lambda request: Respond(200, body=b"hello")
    body = b"x" * 300
    response = node.request(
        b"POST /app/items?api_key=secret HTTP/1.1\r\nHost: gw.test\r\n"
        b"Content-Length: 300\r\n\r\n" + body
    )
    assert response.status == 200
    [line] = wait_lines(log, 1)
    assert set(line) >= FIELDS
    assert line["request_id"] == response.header("X-Request-ID")
    assert line["method"] == "POST"
    assert line["path"] == "/app/items"  # the query is not logged: it may hold credentials
    assert line["host"] == "gw.test"
    assert line["client"] == "127.0.0.1"
    assert (line["route"], line["service"], line["target"]) == ("app", "app", scripted.address)
    assert (line["status"], line["bytes_in"], line["bytes_out"]) == (200, 300, 5)
    assert line["duration_ms"] >= line["upstream_ms"] >= 0
    assert (line["config"], line["version"], line["error"]) == ("active", 1, None)
    assert line["ts"].endswith("Z") and line["ts"][:4].isdigit()


def test_the_request_id_the_client_sent_is_kept_in_the_response_and_the_line(
    node: Any, log: Path, scripted: ScriptedUpstream
) -> None:
    response = node.get("/app/x", {"X-Request-ID": "client-id.42"})
    assert response.header("X-Request-ID") == "client-id.42"
    assert scripted.wait_for(1)[0].header("X-Request-ID") == "client-id.42"
    [line] = wait_lines(log, 1)
    assert line["request_id"] == "client-id.42"


def test_an_upstream_request_id_is_replaced_by_the_gateway_s(
    node: Any, log: Path, scripted: ScriptedUpstream
) -> None:
    scripted.script = lambda request: Respond(200, headers=(("X-Request-ID", "upstream-own"),))
    response = node.get("/app/x")
    assert [v for k, v in response.headers if k.lower() == "x-request-id"] == [
        scripted.received()[0].header("X-Request-ID")
    ]
    [line] = wait_lines(log, 1)
    assert line["request_id"] == response.header("X-Request-ID")


def test_an_upstream_401_is_logged_as_such(
    node: Any, log: Path, scripted: ScriptedUpstream
) -> None:
    scripted.script = lambda request: Respond(401, body=b"who are you")
    response = node.get("/app/private")
    assert response.status == 401
    [line] = wait_lines(log, 1)
    assert (line["status"], line["error"], line["bytes_out"]) == (401, None, 11)
    assert line["request_id"] == response.header("X-Request-ID")


def test_a_401_the_gateway_answers_is_logged_with_its_code_and_no_target(
    node: Any, log: Path
) -> None:
    response = node.get("/keys/x")
    assert response.status == 401
    [line] = wait_lines(log, 1)
    assert (line["status"], line["error"], line["route"], line["target"]) == (
        401,
        "unauthorized",
        "keys",
        None,
    )
    assert line["request_id"] == response.header("X-Request-ID")
    assert line["consumer"] is None


def test_the_consumer_and_tenant_a_key_names_are_logged(
    node: Any, log: Path, scripted: ScriptedUpstream
) -> None:
    response = node.get("/keys/x", {"X-API-Key": KEY})
    assert response.status == 200
    [line] = wait_lines(log, 1)
    assert (line["consumer"], line["tenant"], line["error"]) == ("alice", "acme", None)
    assert KEY not in log.read_text()


def test_a_404_is_logged_with_its_error_code_and_no_route(node: Any, log: Path) -> None:
    response = node.get("/nowhere")
    assert response.status == 404
    [line] = wait_lines(log, 1)
    assert (line["status"], line["error"], line["route"], line["target"]) == (
        404,
        "route_not_found",
        None,
        None,
    )
    assert (
        line["request_id"]
        == response.header("X-Request-ID")
        == response.json()["error"]["request_id"]
    )
    assert line["bytes_out"] == len(response.body)
    assert line["upstream_ms"] is None


def test_a_502_names_the_upstream_in_the_log_and_not_to_the_client(node: Any, log: Path) -> None:
    response = node.get("/gone/x")
    assert response.status == 502
    error = response.json()["error"]
    assert error["code"] == "upstream_connect_failed"
    port = node.dead.rpartition(":")[2]
    assert port not in response.body.decode() and "127.0.0.1" not in response.body.decode()
    [line] = wait_lines(log, 1)
    assert (line["status"], line["error"], line["target"]) == (
        502,
        "upstream_connect_failed",
        node.dead,
    )
    assert node.dead in line["detail"]
    assert line["request_id"] == response.header("X-Request-ID") == error["request_id"]
    assert node.dead not in node.log()  # logged once: in the access log, nowhere else


def test_a_streamed_1_mib_body_is_logged_with_its_size(
    node: Any, log: Path, scripted: ScriptedUpstream
) -> None:
    size = 1 << 20
    scripted.script = lambda request: StreamBody(size, chunk=64 * 1024, chunked=True)
    response = node.get("/app/big")
    assert len(response.body) == size
    [line] = wait_lines(log, 1)
    assert (line["status"], line["bytes_out"]) == (200, size)


def test_pipelined_requests_are_one_line_each_in_order(
    node: Any, log: Path, scripted: ScriptedUpstream
) -> None:
    with node.connect() as sock:
        sock.sendall(
            b"".join(b"GET /app/%d HTTP/1.1\r\nHost: gw.test\r\n\r\n" % i for i in range(3))
        )
        responses = read_responses(sock, 3)
    found = wait_lines(log, 3)
    assert [line["path"] for line in found] == ["/app/0", "/app/1", "/app/2"]
    assert [line["request_id"] for line in found] == [r.header("X-Request-ID") for r in responses]


def test_a_request_refused_for_its_framing_is_logged(node: Any, log: Path) -> None:
    response = node.request(
        b"POST /app/x HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"
    )
    assert response.status == 400
    [line] = wait_lines(log, 1)
    assert (line["status"], line["error"]) == (400, "bad_request")
    assert line["request_id"] == response.header("X-Request-ID")


def test_sigusr1_opens_a_rotated_log_anew(node: Any, log: Path, scripted: ScriptedUpstream) -> None:
    assert node.get("/app/before").status == 200
    wait_lines(log, 1)
    rotated = log.with_name("access.log.1")
    os.rename(log, rotated)
    try:
        node.signal(signal.SIGUSR1)
        # Until the workers reopen, lines still go to the rotated file: poll for the new one.
        deadline = time.monotonic() + WAIT
        while not log.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert log.exists(), node.log()
        assert node.get("/app/after").status == 200
        [after] = wait_lines(log, 1)
        assert after["path"] == "/app/after"
        assert [line["path"] for line in lines(rotated)] == ["/app/before"]
    finally:
        rotated.unlink(missing_ok=True)


def test_lines_held_at_shutdown_are_written(tmp_path: Path, scripted: ScriptedUpstream) -> None:
    access_log = tmp_path / "access.log"
    running = RunningNode(
        tmp_path, catch_all(scripted.address), env={"FLEETGATE_ACCESS_LOG": str(access_log)}
    )
    running.start()
    try:
        assert running.get("/last").status == 200
    finally:
        assert running.stop() == 0
    [line] = lines(access_log)
    assert line["path"] == "/last"


def test_access_log_off_writes_no_line(tmp_path: Path, scripted: ScriptedUpstream) -> None:
    running = RunningNode(
        tmp_path, catch_all(scripted.address), env={"FLEETGATE_ACCESS_LOG": "off"}
    )
    running.start()
    try:
        assert running.get("/quiet").status == 200
        assert running.get("/quiet").header("X-Request-ID")
    finally:
        running.stop()
    assert '"request_id"' not in running.log()


def test_the_default_access_log_is_standard_output(
    tmp_path: Path, scripted: ScriptedUpstream
) -> None:
    running = RunningNode(tmp_path, catch_all(scripted.address))
    running.start()
    try:
        response = running.get("/to-stdout")
    finally:
        running.stop()
    found = [json.loads(x) for x in running.log().splitlines() if x.startswith('{"ts"')]
    assert [line["request_id"] for line in found] == [response.header("X-Request-ID")]


# ---------------------------------------------------------------- the log itself


def test_text_from_the_client_is_escaped_only_when_it_must_be() -> None:
    assert text(b"/plain/path-1.json") == b"/plain/path-1.json"
    escaped = text(b'/a"b\\c\x01\xff')
    assert json.loads(b'"' + escaped + b'"') == '/a"b\\c\x01\ufffd'


def test_a_file_gets_whole_lines_at_64_kib_and_on_flush(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    access_log = AccessLog(str(path))
    refusal = BadRequest("malformed")
    access_log.refusal(b"id-1", b"127.0.0.1", refusal, 3)
    assert path.read_bytes() == b""  # held
    for _ in range(FLUSH_BYTES):  # a line is longer than a byte: bounded with room
        access_log.refusal(b"id-2", b"127.0.0.1", refusal, 3)
        if path.stat().st_size:
            break
    written = path.read_bytes()
    assert len(written) >= FLUSH_BYTES and written.endswith(b"\n")
    assert access_log.held == 0
    access_log.refusal(b"id-3", b"127.0.0.1", refusal, 3)
    access_log.close()
    found = lines(path)
    assert found[0]["request_id"] == "id-1" and found[-1]["request_id"] == "id-3"
    assert {line["error"] for line in found} == {"bad_request"}


def test_what_a_file_s_writev_did_not_take_is_written_after_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "access.log"
    access_log = AccessLog(str(path))
    refusal = BadRequest("malformed")
    for i in range(200):  # four batches
        access_log.refusal(b"id-%d" % i, b"127.0.0.1", refusal, 1)
    real_writev = os.writev
    calls: list[int] = []

    def short_writev(fd: int, buffers: Any) -> int:
        calls.append(len(buffers))
        return real_writev(fd, [bytes(buffers[0])[:10]])  # as a full disk or a signal might

    monkeypatch.setattr(os, "writev", short_writev)
    access_log.close()
    assert calls == [4]
    assert [line["request_id"] for line in lines(path)] == [f"id-{i}" for i in range(200)]


def test_a_pipe_gets_lines_in_pieces_no_longer_than_pipe_buf(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    read_end, write_end = os.pipe()
    saved = os.dup(1)
    os.dup2(write_end, 1)
    try:
        access_log = AccessLog("-")
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(write_end)
    refusal = BadRequest("malformed")
    for i in range(100):
        access_log.refusal(b"id-%d" % i, b"127.0.0.1", refusal, 1)
    writes: list[int] = []
    real_write = os.write

    def counting_write(fd: int, data: Any) -> int:
        writes.append(len(data))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", counting_write)
    access_log.close()
    monkeypatch.undo()
    data = b""
    while chunk := os.read(read_end, 1 << 16):
        data += chunk
    os.close(read_end)
    assert [json.loads(x)["request_id"] for x in data.splitlines()] == [
        f"id-{i}" for i in range(100)
    ]
    assert len(writes) > 1 and max(writes) <= 4096


def logged_request(
    method: bytes = b"GET",
    path: bytes = b"/app/x",
    host: bytes = b"gw.test",
    *,
    route: str = "app",
    consumer: str | None = None,
    error: ProxyError | None = None,
    upstream_time: float = 0.0004,
) -> SimpleNamespace:
    """What `AccessLog.exchange` reads of an exchange, the client's text given."""
    config = SimpleNamespace(version=5)
    state = SimpleNamespace(config=config, candidate=None)
    call = None if consumer is None else SimpleNamespace(consumer=consumer, tenant="t\u2028")
    return SimpleNamespace(
        head=SimpleNamespace(method=method, target=path, host=host),
        conn=SimpleNamespace(state=state, client_bytes=b"127.0.0.1"),
        plan=SimpleNamespace(name=route, service=SimpleNamespace(name="svc")),
        side=0, began=time.perf_counter(), request_id=b"rid", body_bytes=3, bytes_out=4,
        upstream_time=upstream_time, call=call, error=error, failed=None,
    )  # fmt: skip


@pytest.fixture(params=["pure", "compiled"])
def twin(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """The access log makes its lines with the pure twin, then with the compiled one."""
    lines_module = access_lines if request.param == "pure" else compiled_or_skip()
    monkeypatch.setattr(access_log, "_lines", lines_module)


HOSTILE = [
    b'"quoted"', b"back\\slash", b"ctl\x00\x01\x1f\x7f", b"tab\tnew\nline\r", b"\xff\xfe\xc3",
    b"\xe2\x80\xa8line\xe2\x80\xa9sep", b"caf\xc3\xa9", b'\\"},{"status":1', b"",
]  # fmt: skip


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_client_text_makes_valid_lines_that_say_what_was_sent(
    tmp_path: Path, hostile: bytes, twin: None
) -> None:
    path = tmp_path / "access.log"
    access_log = AccessLog(str(path))
    target = SimpleNamespace(address="10.0.0.1:80")
    sent = [
        (b"GET", b"/plain/before", b"gw.test"),
        (hostile, b"/p/" + hostile + b"?q=" + hostile, hostile),
        (b"GET", b"/plain/after", b"gw.test"),
    ]
    for method, target_path, host in sent:
        access_log.exchange(logged_request(method, target_path, host), target, 200, 0.002)  # type: ignore[arg-type]
    access_log.close()
    raw = path.read_bytes()
    assert raw.isascii() and raw.count(b"\n") == len(sent)
    found = [json.loads(line) for line in raw.splitlines()]
    for line, (method, target_path, host) in zip(found, sent, strict=True):
        assert set(line) >= FIELDS
        assert line["method"] == method.decode("utf-8", "replace")
        assert line["path"] == target_path.partition(b"?")[0].decode("utf-8", "replace")
        assert line["host"] == host.decode("utf-8", "replace")
        assert (line["status"], line["bytes_in"], line["bytes_out"]) == (200, 3, 4)
        assert (line["target"], line["version"], line["config"]) == ("10.0.0.1:80", 5, "active")


def test_plain_client_text_is_written_as_it_came(tmp_path: Path, twin: None) -> None:
    path = tmp_path / "access.log"
    access_log = AccessLog(str(path))
    access_log.exchange(
        logged_request(b"PATCH", b"/a-b_c.~/%7E!$&'()*+,;=:@", b"[::1]:8080"), None, 204, 0.001
    )  # type: ignore[arg-type]
    access_log.close()
    raw = path.read_bytes()
    assert b'"method":"PATCH","path":"/a-b_c.~/%7E!$&\'()*+,;=:@","host":"[::1]:8080"' in raw


def test_the_time_of_a_line_is_the_request_s_end_on_the_wall_clock(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    access_log = AccessLog(str(path))
    request = logged_request()
    before = time.time()
    access_log.exchange(request, None, 200, 3600.0)  # type: ignore[arg-type]
    access_log.refusal(b"rid-2", b"::1", BadRequest("malformed"), 9)
    access_log.close()
    [line, refusal] = [json.loads(x) for x in path.read_text().splitlines()]
    ended = calendar.timegm(time.strptime(line["ts"][:19], "%Y-%m-%dT%H:%M:%S"))
    assert 3600 - 60 < ended - before < 3600 + 60  # began + the duration, not when logged
    refused = calendar.timegm(time.strptime(refusal["ts"][:19], "%Y-%m-%dT%H:%M:%S"))
    assert abs(refused - before) < 60


def test_names_and_errors_from_anywhere_are_encoded_as_json(tmp_path: Path, twin: None) -> None:
    path = tmp_path / "access.log"
    access_log = AccessLog(str(path))
    route = 'r"\\\u2028\u00e9'
    error = BadRequest("refused", detail='cause: "\x00\\ \u2028 \udcff"')
    access_log.exchange(
        logged_request(route=route, consumer='c"\u00e9', error=error, upstream_time=-1.0),
        None,
        400,
        0.001,
    )  # type: ignore[arg-type]
    access_log.refusal(b"rid-2", b"::1", BadRequest("malformed"), 9)
    access_log.close()
    raw = path.read_bytes()
    assert raw.isascii()
    [line, refusal] = [json.loads(x) for x in raw.splitlines()]
    assert (line["route"], line["service"], line["target"]) == (route, "svc", None)
    assert (line["consumer"], line["tenant"]) == ('c"\u00e9', "t\u2028")
    assert (line["error"], line["detail"], line["upstream_ms"]) == (
        "bad_request",
        error.detail,
        None,
    )
    assert (refusal["request_id"], refusal["client"], refusal["version"]) == ("rid-2", "::1", 9)
    assert (refusal["route"], refusal["upstream_ms"], refusal["error"]) == (
        None,
        None,
        "bad_request",
    )
