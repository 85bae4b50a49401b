"""The contract between the exchange and a route's policies, without sockets."""

from __future__ import annotations

import asyncio

from data_plane.http.errors import ProxyError
from data_plane.http.forwarding import with_query
from data_plane.http.request import RequestHead
from data_plane.http.responses import reply_response
from data_plane.policies import Call, PolicyChain, Reply


def _call(target: bytes = b"/a?x=1") -> Call:
    mark = target.find(b"?")
    return Call(RequestHead(b"GET", target, b"1.1", True), "10.0.0.1", target[mark + 1 :])


class _Recorder:
    def __init__(self, verdict: object = None) -> None:
        self.verdict = verdict
        self.seen: list[str] = []

    def on_request(self, call: Call) -> object:
        self.seen.append("request")
        return self.verdict

    def on_response(self, call: Call, status: int, fields: list[tuple[bytes, bytes]]) -> None:
        fields.append((b"X-Seen", b"%d" % status))


def test_the_releases_of_a_call_run_once_however_often_it_ends() -> None:
    call = _call()
    released: list[int] = []
    call.on_end(lambda: released.append(1))
    call.on_end(lambda: released.append(2))
    call.end()
    call.end()
    assert released == [1, 2]


def test_a_refusal_stops_the_chain() -> None:
    refusing, after = _Recorder(ProxyError("no")), _Recorder()
    chain = PolicyChain((refusing, after))  # type: ignore[arg-type]
    verdict = chain.on_request(_call())
    assert isinstance(verdict, ProxyError)
    assert after.seen == []


def test_a_policy_that_waits_makes_the_rest_of_the_chain_wait_too() -> None:
    async def later() -> None:
        return None

    waiting, after = _Recorder(later()), _Recorder(Reply(204, []))
    chain = PolicyChain((waiting, after))  # type: ignore[arg-type]
    pending = chain.on_request(_call())
    assert after.seen == []
    verdict = asyncio.run(pending)  # type: ignore[arg-type]
    assert isinstance(verdict, Reply) and verdict.status == 204
    assert after.seen == ["request"]


def test_response_fields_of_the_call_follow_the_policies_edits() -> None:
    call = _call()
    call.response_fields.append((b"RateLimit", b'"minute";r=1;t=60'))
    fields: list[tuple[bytes, bytes]] = []
    PolicyChain((_Recorder(),)).on_response(call, 429, fields)  # type: ignore[arg-type]
    assert fields == [(b"X-Seen", b"429"), (b"RateLimit", b'"minute";r=1;t=60')]


def test_a_replaced_query_is_what_the_request_line_carries() -> None:
    line = b"GET /a/b?api_key=s3cret&x=1 HTTP/1.1\r\n"
    assert with_query(line, 3, b"x=1") == b"GET /a/b?x=1 HTTP/1.1\r\n"
    assert with_query(line, 3, b"") == b"GET /a/b HTTP/1.1\r\n"
    assert with_query(b"GET /a HTTP/1.1\r\n", 3, b"k=v") == b"GET /a?k=v HTTP/1.1\r\n"


def test_a_204_reply_carries_no_content_length_and_a_redirect_does() -> None:
    date = b"Date: x\r\n"
    preflight = reply_response(204, [(b"Vary", b"Origin")], b"rid", date, close=False)
    assert preflight.startswith(b"HTTP/1.1 204 No Content\r\n")
    assert b"Content-Length" not in preflight and b"Vary: Origin\r\n" in preflight
    moved = reply_response(308, [(b"Location", b"https://a/")], b"rid", date, close=True)
    assert b"Content-Length: 0\r\n" in moved and b"Connection: close\r\n" in moved
