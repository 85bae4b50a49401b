"""The head path without sockets: bytes in, heads, body pieces and verdicts out.

Every test runs against both twins: the pure-Python `heads` and the compiled
`heads_c`. In CI the compiled one must exist (a build that silently fell back to
the pure twin would leave the fast path untested and unmeasured).
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from data_plane import extensions
from data_plane.http import head_path
from data_plane.http import heads as pure
from data_plane.http.errors import ProxyError
from data_plane.routing import normalize_path
from tests.data_plane.test_framing import BAD_REQUESTS

LIMIT = 64 * 1024
COUNT = 100
IN_CI = os.environ.get("CI") == "true"


def compiled_or_skip() -> ModuleType:
    try:
        return importlib.import_module("data_plane.http.heads_c")
    except ImportError as exc:
        if IN_CI:
            pytest.fail(f"the compiled head path was not built: {exc}", pytrace=False)
        pytest.skip(f"the compiled head path is not built here: {exc}")


@pytest.fixture(params=["pure", "compiled"])
def heads(request: pytest.FixtureRequest) -> ModuleType:
    return pure if request.param == "pure" else compiled_or_skip()


def events(heads: ModuleType, *reads: bytes) -> list[Any]:
    """Every event of `reads` fed one after the other to a new request parser."""
    parser = heads.RequestParser(LIMIT, COUNT)
    found: list[Any] = []
    for data in reads:
        parser.feed(data)
        while (event := parser.next_event()) is not None:
            found.append(event)
    return found


def verdict(heads: ModuleType, data: bytes) -> ProxyError:
    with pytest.raises(ProxyError) as caught:
        events(heads, data)
    return caught.value


# ------------------------------------------------------------ the build


def test_the_compiled_twin_is_the_one_loaded_when_built(monkeypatch: pytest.MonkeyPatch) -> None:
    compiled = compiled_or_skip()
    monkeypatch.setattr(extensions, "NO_EXTENSIONS", False)
    assert extensions.load("data_plane.http.heads") is compiled
    assert extensions.is_compiled(compiled)


def test_no_extensions_loads_the_pure_twin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(extensions, "NO_EXTENSIONS", True)
    assert extensions.load("data_plane.http.heads") is pure
    assert not extensions.is_compiled(pure)


def test_a_twin_that_was_not_built_falls_back_to_python(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(extensions, "NO_EXTENSIONS", False)
    # data_plane.extensions itself has no compiled twin: the pure module is the answer.
    assert extensions.load("data_plane.extensions") is extensions


@pytest.mark.parametrize("setting", ["1", ""])
def test_the_environment_switch_picks_the_twin_a_process_runs(setting: str) -> None:
    if setting == "":
        compiled_or_skip()
    probe = "from data_plane.http import head_path; print(head_path.COMPILED)"
    env = {**os.environ, "FLEETGATE_NO_EXTENSIONS": setting}
    out = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == ("False" if setting else "True")


def test_the_proxy_runs_the_twin_the_environment_names() -> None:
    # `make test` runs the protocol tests twice: on the compiled head path, then with
    # FLEETGATE_NO_EXTENSIONS=1. A build that broke must fail the first run, not quietly
    # make it a second run of the pure twin.
    if extensions.NO_EXTENSIONS:
        assert not head_path.COMPILED
        assert head_path.heads is pure
    elif IN_CI or head_path.COMPILED:
        assert head_path.COMPILED, "the compiled head path did not load: the build is broken"
        assert head_path.heads is compiled_or_skip()
    else:
        pytest.skip("the compiled head path is not built here")


def test_the_pure_twin_runs_where_cython_is_not_installed() -> None:
    probe = (
        "import sys; sys.modules['cython'] = None\n"
        "from data_plane.http import heads\n"
        "parser = heads.RequestParser(1024, 10)\n"
        "parser.feed(b'GET /a HTTP/1.1\\r\\nHost: h\\r\\n\\r\\n')\n"
        "print(heads.cython.__name__, parser.next_event().path)"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["data_plane.uncompiled", "/a"]


def test_the_compiled_twin_is_built_from_the_current_source() -> None:
    compiled = compiled_or_skip()
    built = Path(compiled.__file__ or "").stat().st_mtime
    for source in ("heads.py", "heads_c.pxd"):
        path = Path(pure.__file__).with_name(source)
        assert path.stat().st_mtime <= built, f"{source} changed since the build: make .venv"


# ------------------------------------------------------------ request heads


def test_a_request_head_is_parsed_in_one_call(heads: ModuleType) -> None:
    (head,) = events(
        heads,
        b"GET /a/b?q=1&r HTTP/1.1\r\nHost: gw.test:8080\r\nAccept: */*\r\n"
        b"X-Empty:\r\nUser-Agent:  tab\tand space \t\r\n\r\n",
    )
    assert (head.method, head.target, head.version, head.host) == (
        b"GET",
        b"/a/b?q=1&r",
        b"1.1",
        b"gw.test:8080",
    )
    assert head.path == "/a/b" and head.as_received
    assert head.headers == [
        (b"Accept", b"*/*"),
        (b"X-Empty", b""),
        (b"User-Agent", b"tab\tand space"),
    ]
    assert head.keep_alive and not head.has_body and head.content_length == -1


def test_a_path_that_needs_normalizing_is_normalized_as_routing_does(heads: ModuleType) -> None:
    for raw in (b"/a//b/./c/../d", b"/%61%2e%2E/x", b"/a/%7e%7E", b"/\xc3\xa9t\xc3\xa9", b"/a/."):
        (head,) = events(heads, b"GET " + raw + b"?x HTTP/1.1\r\nHost: h\r\n\r\n")
        assert head.path == normalize_path(raw)
        assert not head.as_received
        assert head.target == raw + b"?x"


@pytest.mark.parametrize("data", BAD_REQUESTS.values(), ids=BAD_REQUESTS.keys())
def test_every_framing_rule_refuses_with_400(heads: ModuleType, data: bytes) -> None:
    error = verdict(heads, data)
    assert error.status == 400 and error.closes


@pytest.mark.parametrize("version", [b"HTTP/2.0", b"HTTP/0.9", b"HTTP/1.2"])
def test_other_versions_are_505(heads: ModuleType, version: bytes) -> None:
    assert verdict(heads, b"GET / " + version + b"\r\nHost: h\r\n\r\n").status == 505


@pytest.mark.parametrize("version", [b"HTTP/1.10", b"http/1.1", b"HTTP/1", b"HTTP/a.b"])
def test_a_malformed_version_is_400(heads: ModuleType, version: bytes) -> None:
    assert verdict(heads, b"GET / " + version + b"\r\nHost: h\r\n\r\n").status == 400


def test_an_expectation_other_than_100_continue_is_417(heads: ModuleType) -> None:
    data = b"POST / HTTP/1.1\r\nHost: h\r\nExpect: something\r\nContent-Length: 1\r\n\r\nx"
    assert verdict(heads, data).status == 417
    (head, _, _) = events(heads, data.replace(b"something", b"100-Continue"))
    assert head.expect_continue


def test_too_many_fields_are_431(heads: ModuleType) -> None:
    fields = b"".join(b"X-%d: v\r\n" % i for i in range(COUNT + 1))
    assert verdict(heads, b"GET / HTTP/1.1\r\nHost: h\r\n" + fields + b"\r\n").status == 431


def test_a_head_over_the_byte_limit_is_431_whole_or_unfinished(heads: ModuleType) -> None:
    big = b"GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + b"a" * LIMIT
    assert verdict(heads, big + b"\r\n\r\n").status == 431
    assert verdict(heads, big).status == 431


def test_a_head_may_arrive_a_byte_at_a_time(heads: ModuleType) -> None:
    data = b"\r\nPOST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"
    found = events(heads, *(data[i : i + 1] for i in range(len(data))))
    assert [type(e).__name__ for e in found] == [
        "RequestHead",
        "bytes",
        "bytes",
        "bytes",
        "EndOfMessage",
    ]


def test_a_pipelined_head_split_across_reads_is_found(heads: ModuleType) -> None:
    # The first request is the longer, so the second's end lies before where the
    # search stopped in the first read's indices.
    first = b"GET /1 HTTP/1.1\r\nHost: h\r\nX-Pad: " + b"p" * 200 + b"\r\n\r\n"
    second = b"GET /2 HTTP/1.1\r\nHost: h\r\nX-Long: " + b"v" * 40 + b"\r\n\r\n"
    found = events(heads, first + second[:30], second[30:])
    assert [head.target for head in found] == [b"/1", b"/2"]


def test_hop_by_hop_and_gateway_fields_are_set_aside(heads: ModuleType) -> None:
    (head,) = events(
        heads,
        b"GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, X-Private\r\nKeep-Alive: 5\r\n"
        b"TE: trailers\r\nTrailer: x\r\nProxy-Connection: x\r\nUpgrade: h2c\r\n"
        b"X-Private: secret\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: evil\r\n"
        b"X-Consumer: admin\r\nX-Tenant: acme\r\nX-Forwarded-For: 10.0.0.1\r\n"
        b"X-Forwarded-For: 10.0.0.2\r\nVia: 1.0 a\r\nX-Request-ID: abc-123\r\nX-Kept: yes\r\n\r\n",
    )
    assert head.headers == [(b"X-Kept", b"yes")]
    assert head.upgrade is None  # Upgrade without "Connection: upgrade" is not one
    assert head.forwarded_for == b"10.0.0.1, 10.0.0.2"
    assert head.via == b"1.0 a"
    assert head.request_id == b"abc-123"
    block = heads.fields_block(head, b"127.0.0.9", b"abc-123")
    assert block == (
        b"X-Kept: yes\r\nX-Forwarded-For: 10.0.0.1, 10.0.0.2, 127.0.0.9\r\n"
        b"X-Forwarded-Host: h\r\nX-Forwarded-Proto: http\r\nVia: 1.0 a, 1.1 fleetgate\r\n"
        b"X-Request-ID: abc-123\r\n\r\n"
    )


def test_trace_context_is_read_and_the_gateways_is_sent_instead(heads: ModuleType) -> None:
    (head,) = events(
        heads,
        b"GET / HTTP/1.1\r\nHost: h\r\ntraceparent: 00-a-b-01\r\ntracestate: x=1\r\n"
        b"TraceState: y=2\r\n\r\n",
    )
    assert (head.traceparent, head.tracestate) == (b"00-a-b-01", b"x=1,y=2")
    assert head.headers == []
    block = heads.fields_block(head, b"c", b"i", b"00-mine-01", b"x=1,y=2", https=True)
    assert b"X-Forwarded-Proto: https\r\n" in block
    assert block.endswith(b"traceparent: 00-mine-01\r\ntracestate: x=1,y=2\r\n\r\n")


def test_a_traceparent_sent_twice_is_invalid(heads: ModuleType) -> None:
    (head,) = events(
        heads, b"GET / HTTP/1.1\r\nHost: h\r\ntraceparent: a\r\ntraceparent: b\r\n\r\n"
    )
    assert head.traceparent == b""


def test_an_upstreams_request_id_is_replaced_by_the_requests(heads: ModuleType) -> None:
    fields = [(b"X-Request-ID", b"theirs"), (b"Server", b"up")]
    data, *_ = heads.reply_head(200, fields, True, b"1.1", True, DATE, b"ours")
    assert data.count(b"X-Request-ID") == 1 and b"X-Request-ID: ours\r\n" in data
    assert b"theirs" not in heads.tunnel_head(fields, DATE, b"ours")


def test_an_invalid_request_id_is_not_kept(heads: ModuleType) -> None:
    for value in (b"a" * 129, b"a b", b"a/b", b""):
        (head,) = events(
            heads, b"GET / HTTP/1.1\r\nHost: h\r\nX-Request-ID: " + value + b"\r\n\r\n"
        )
        assert head.request_id is None


@pytest.mark.parametrize(
    ("version", "connection", "keep_alive"),
    [
        (b"1.1", b"", True),
        (b"1.1", b"Connection: close\r\n", False),
        (b"1.1", b"Connection: x, Close\r\n", False),
        (b"1.0", b"", False),
        (b"1.0", b"Connection: keep-alive\r\n", True),
        (b"1.0", b"Connection: keep-alive, close\r\n", True),  # llhttp's reading
    ],
)
def test_keep_alive_follows_the_version_and_connection(
    heads: ModuleType, version: bytes, connection: bytes, keep_alive: bool
) -> None:
    (head,) = events(heads, b"GET / HTTP/" + version + b"\r\nHost: h\r\n" + connection + b"\r\n")
    assert head.keep_alive is keep_alive


def test_an_upgrade_request_switches_the_parser(heads: ModuleType) -> None:
    parser = heads.RequestParser(LIMIT, COUNT)
    parser.feed(
        b"GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nraw"
    )
    head = parser.next_event()
    assert head.upgrade == b"websocket" and parser.switched
    assert parser.next_event() is None
    assert parser.take_rest() == b"raw"
    assert b"Connection: upgrade\r\nUpgrade: websocket\r\n" in heads.fields_block(head, b"c", b"i")


# ------------------------------------------------------------ request bodies


def test_a_content_length_body_comes_in_pieces_then_ends(heads: ModuleType) -> None:
    found = events(
        heads,
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nab",
        b"cde",
        b"GET /next HTTP/1.1\r\nHost: h\r\n\r\n",
    )
    assert found[1:4] == [b"ab", b"cde", heads.END]
    assert found[4].target == b"/next"


def test_a_chunked_body_is_decoded_strictly(heads: ModuleType) -> None:
    data = (
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3;name=value\r\nabc\r\nA\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n"
        b"GET /next HTTP/1.1\r\nHost: h\r\n\r\n"
    )
    for step in (len(data), 1, 2, 7):
        found = events(heads, *(data[i : i + step] for i in range(0, len(data), step)))
        assert found[0].chunked
        assert b"".join(e for e in found if isinstance(e, bytes)) == b"abc0123456789"
        assert found[-2] is heads.END and found[-1].target == b"/next"


@pytest.mark.parametrize(
    "body",
    [
        b"3\r\nabcd\r\n0\r\n\r\n",  # longer than its size
        b"-1\r\nx\r\n0\r\n\r\n",
        b"3\nabc\r\n0\r\n\r\n",
        b"1000000000000000\r\n",  # 2**60: no body is that long
        b"3\r\nabc\r\n0\r\nbad trailer\r\n\r\n",
        b"3\r\nabc\r\n0\r\nX: \x01\r\n\r\n",
    ],
)
def test_a_malformed_chunked_body_is_400(heads: ModuleType, body: bytes) -> None:
    head = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
    assert verdict(heads, head + body).status == 400


def test_a_parser_that_refused_stays_broken(heads: ModuleType) -> None:
    parser = heads.RequestParser(LIMIT, COUNT)
    parser.feed(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
    with pytest.raises(ProxyError):
        parser.next_event()
    parser.feed(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    with pytest.raises(ProxyError):
        parser.next_event()


# ------------------------------------------------------------ responses


def responses(heads: ModuleType, *reads: bytes, head_request: bool = False) -> list[Any]:
    parser = heads.ResponseParser(LIMIT, COUNT)
    parser.start(head_request)
    found: list[Any] = []
    for data in reads:
        parser.feed(data)
        while (event := parser.next_event()) is not None:
            found.append(event)
    return found


def test_a_response_head_keeps_every_field_and_reads_the_framing(heads: ModuleType) -> None:
    (head, body, end) = responses(
        heads,
        b"HTTP/1.1 200 OK\r\nServer: up\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok",
    )
    assert (head.status, head.content_length, head.keep_alive, body, end) == (
        200,
        2,
        True,
        b"ok",
        heads.END,
    )
    assert head.fields[0] == (b"Server", b"up")


def test_informational_responses_are_skipped(heads: ModuleType) -> None:
    (head, *_) = responses(heads, b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n")
    assert head.status == 204


def test_a_head_response_has_no_body_whatever_its_length(heads: ModuleType) -> None:
    parser = heads.ResponseParser(LIMIT, COUNT)
    parser.start(True)
    parser.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n")
    assert parser.next_event().content_length == 10
    assert parser.next_event() is None and not parser.expecting and parser.pending == 0


def test_a_close_delimited_body_ends_with_the_connection(heads: ModuleType) -> None:
    parser = heads.ResponseParser(LIMIT, COUNT)
    parser.start(False)
    parser.feed(b"HTTP/1.1 200 OK\r\n\r\nsome")
    head = parser.next_event()
    assert not head.keep_alive
    assert parser.next_event() == b"some"
    assert parser.feed_eof() and not parser.expecting


def test_a_101_switches_and_leaves_the_rest(heads: ModuleType) -> None:
    parser = heads.ResponseParser(LIMIT, COUNT)
    parser.start(False)
    parser.feed(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\nframes")
    assert parser.next_event().status == 101
    assert parser.take_rest() == b"frames"


@pytest.mark.parametrize(
    "data",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx",
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
        b"HTTP/2 200 OK\r\n\r\n",
        b"HTTP/1.1 2000 OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n folded\r\n\r\n",
        b"garbage\r\n\r\n",
    ],
)
def test_an_unusable_response_is_502(heads: ModuleType, data: bytes) -> None:
    with pytest.raises(ProxyError) as caught:
        responses(heads, data)
    assert caught.value.status == 502


REPLY_FIELDS = [
    (b"Server", b"up"),
    (b"Connection", b"X-Gone, keep-alive"),
    (b"X-Gone", b"1"),
    (b"Transfer-Encoding", b"chunked"),
    (b"Via", b"1.0 inner"),
    (b"Keep-Alive", b"timeout=5"),
]
DATE = b"Date: Wed, 02 Dec 2026 07:00:00 GMT\r\n"
CLIENT_FIELDS = b"Server: up\r\n" + DATE + b"Via: 1.0 inner, 1.1 fleetgate\r\n"


@pytest.mark.parametrize(
    ("status", "head_only", "version", "keep", "expected"),
    [
        (200, False, b"1.1", True, (b"Transfer-Encoding: chunked\r\n", 2, True, False)),
        (200, False, b"1.0", True, (b"Connection: close\r\n", 1, False, False)),
        (204, False, b"1.1", False, (b"Connection: close\r\n", 0, False, False)),
        (200, True, b"1.0", True, (b"Connection: keep-alive\r\n", 0, True, False)),
    ],
)
def test_the_client_head_drops_hop_by_hop_fields_and_frames_the_body_afresh(
    heads: ModuleType,
    status: int,
    head_only: bool,
    version: bytes,
    keep: bool,
    expected: tuple[bytes, int, bool, bool],
) -> None:
    data, body, keep_alive, until_close = heads.reply_head(
        status, REPLY_FIELDS, head_only, version, keep, DATE, b"id-1"
    )
    line = b"HTTP/1.1 204 No Content\r\n" if status == 204 else b"HTTP/1.1 200 OK\r\n"
    assert data == line + b"X-Request-ID: id-1\r\n" + CLIENT_FIELDS + expected[0] + b"\r\n"
    assert (body, keep_alive, until_close) == expected[1:]


def test_the_101_head_keeps_upgrade_and_connection(heads: ModuleType) -> None:
    assert heads.tunnel_head(REPLY_FIELDS, DATE, b"id-1") == (
        b"HTTP/1.1 101 Switching Protocols\r\nX-Request-ID: id-1\r\n"
        b"Server: up\r\nConnection: X-Gone, keep-alive\r\n"
        b"X-Gone: 1\r\nTransfer-Encoding: chunked\r\nVia: 1.0 inner\r\n"
        + DATE
        + b"Via: 1.1 fleetgate\r\n\r\n"
    )
