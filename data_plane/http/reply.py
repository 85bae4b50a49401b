"""The head of the response sent downstream, and how its body is framed there.

The upstream's framing is read, then decided afresh for the client: a body with a
Content-Length passes through as it is; a chunked or close-delimited body is
re-chunked for an HTTP/1.1 client and sent close-delimited to an HTTP/1.0 one. A
response to HEAD, a 204 and a 304 have no body (RFC 9110 6.4.1); 204 and 304 also
lose Content-Length, as DESIGN.md asks. Hop-by-hop fields, and those the upstream
named in Connection, stay behind; Via gains the gateway. Every response carries the
request's `X-Request-ID` (the one the upstream was sent; an upstream's own is replaced).
"""

from __future__ import annotations

from .errors import BadUpstreamResponse
from .forwarding import VIA
from .request import HOP_BY_HOP, Headers
from .responses import STATUS_LINE, status_line

# How the response body goes to the client (plain ints: read for every body chunk).
BODY_NONE = 0
BODY_RAW = 1  # as received: Content-Length, or close-delimited to HTTP/1.0
BODY_CHUNKED = 2  # re-chunked

_CRLF = b"\r\n"
_CHUNKED = b"Transfer-Encoding: chunked\r\n"
_CLOSE = b"Connection: close\r\n"
_KEEP_ALIVE = b"Connection: keep-alive\r\n"
_VIA = b"Via: " + VIA + b"\r\n"
_NO_BODY_STATUSES = frozenset({204, 304})
_SWITCH_FIELDS = frozenset({b"connection", b"upgrade"})
_CONNECTION_OPTIONS = frozenset({b"close", b"keep-alive", b"upgrade"})

_LENGTH, _CODING, _VIA_FIELD, _DATE, _CONNECTION, _HOP, _REQUEST_ID = range(1, 8)
_FIELDS = {
    b"x-request-id": _REQUEST_ID,
    b"content-length": _LENGTH,
    b"transfer-encoding": _CODING,
    b"via": _VIA_FIELD,
    b"date": _DATE,
    **{name: _HOP for name in HOP_BY_HOP},
    b"connection": _CONNECTION,
}
# Kinds by the name as received: upstreams spell their fields the same way every time,
# so most responses skip lower-casing. Bounded, since the names come from outside.
_KINDS: dict[bytes, int] = {}
_KINDS_SIZE = 1024


# (head bytes, BODY_* framing of the body, whether the client connection stays open,
# whether the upstream's body ends when its connection does); a plain tuple, built
# once per response.
ReplyHead = tuple[bytes, int, bool, bool]


def reply_head(
    status: int,
    fields: Headers,
    head_request: bool,
    client_version: bytes,
    keep_alive: bool,
    date_line: bytes,
    request_id: bytes,
) -> ReplyHead:
    """The head to send for an upstream response; raises BadUpstreamResponse."""
    if not 200 <= status <= 599:
        raise BadUpstreamResponse(f"the upstream answered with status {status}")
    parts = [STATUS_LINE.get(status) or status_line(status), b"X-Request-ID: ", request_id, _CRLF]
    length: bytes | None = None
    chunked = False
    has_date = False
    via: bytes | None = None
    named: list[bytes] | None = None
    kinds = _KINDS
    for name, value in fields:
        kind = kinds.get(name)
        if kind is None:
            kind = _kind(name)
        if not kind:
            parts += (name, b": ", value, b"\r\n")
        elif kind == _LENGTH:
            length = value
        elif kind == _DATE:
            has_date = True
            parts += (name, b": ", value, b"\r\n")
        elif kind == _CODING:
            if value.strip().lower() != b"chunked":
                raise BadUpstreamResponse(f"the upstream used the transfer coding {value!r}")
            chunked = True
        elif kind == _VIA_FIELD:
            via = value if via is None else via + b", " + value
        elif kind == _CONNECTION and value.lower() not in _CONNECTION_OPTIONS:
            tokens = [t.strip().lower() for t in value.split(b",")]
            named = [t for t in tokens if t not in _CONNECTION_OPTIONS] or named
    if named:
        dropped = frozenset(named)
        parts[4:] = [
            piece
            for name, value in fields
            if _kind(name) in (0, _DATE) and name.lower() not in dropped
            for piece in (name, b": ", value, b"\r\n")
        ]
    if not has_date:
        parts.append(date_line)
    parts.append(_VIA if via is None else b"Via: " + via + b", " + VIA + b"\r\n")
    until_close = False
    if status in _NO_BODY_STATUSES:
        body = BODY_NONE
    elif head_request:
        body = BODY_NONE
        if length is not None:
            parts += (b"Content-Length: ", length, b"\r\n")
    elif length is not None and not chunked:
        body = BODY_RAW
        parts += (b"Content-Length: ", length, b"\r\n")
    elif client_version == b"1.1":
        body = BODY_CHUNKED
        parts.append(_CHUNKED)
        until_close = not chunked
    else:
        # An HTTP/1.0 client knows no chunks: the body ends when the connection does.
        body = BODY_RAW
        keep_alive = False
        until_close = not chunked
    if not keep_alive:
        parts.append(_CLOSE)
    elif client_version == b"1.0":
        parts.append(_KEEP_ALIVE)
    parts.append(b"\r\n")
    return b"".join(parts), body, keep_alive, until_close


def _kind(name: bytes) -> int:
    """What the field `name` (as received) is to the reply: one of the kinds, 0 for others."""
    kind = _FIELDS.get(name.lower(), 0)
    if len(_KINDS) >= _KINDS_SIZE:
        _KINDS.clear()
    _KINDS[name] = kind
    return kind


def tunnel_head(fields: Headers, date_line: bytes, request_id: bytes) -> bytes:
    """The 101 head for the client: the upstream's fields, Upgrade and Connection kept."""
    parts = [status_line(101), b"X-Request-ID: ", request_id, _CRLF]
    has_date = False
    for name, value in fields:
        lower = name.lower()
        if lower == b"date":
            has_date = True
        if (lower in HOP_BY_HOP and lower not in _SWITCH_FIELDS) or lower == b"x-request-id":
            continue
        parts += (name, b": ", value, b"\r\n")
    if not has_date:
        parts.append(date_line)
    parts += (_VIA, b"\r\n")
    return b"".join(parts)
