"""The request head as the proxy needs it: framing decided, hop-by-hop fields set aside.

`read_request_head` does no I/O: the parser's events go in, a `RequestHead` (or a
`ProxyError` to answer with) comes out, so every framing rule is tested with byte
strings. httptools (llhttp, lenient modes off) already refuses most ambiguous framing
before the head completes: Content-Length with Transfer-Encoding, duplicate or
malformed Content-Length, bare CR, obs-fold, whitespace before the colon, invalid
header bytes, bad chunk sizes. What it lets through and RFC 9112 forbids is refused
here: transfer codings other than `chunked` (llhttp accepts `gzip, chunked`),
Transfer-Encoding on HTTP/1.0, a missing or repeated Host, versions other than
1.0 and 1.1, Upgrade requests with a body.
"""

from __future__ import annotations

import re

from .errors import BadRequest, ExpectationFailed, VersionNotSupported

Headers = list[tuple[bytes, bytes]]

# RFC 9110 7.6.1 connection-specific fields, plus the non-standard Proxy-Connection.
HOP_BY_HOP = frozenset(
    {b"connection", b"keep-alive", b"proxy-connection", b"te", b"trailer", b"upgrade"}
)
_REQUEST_ID_VALUE = re.compile(rb"[A-Za-z0-9._-]{1,128}")
# A host name, IPv4 or bracketed IPv6 literal, with an optional port: nothing that
# could smuggle a second value into X-Forwarded-Host.
_HOST_VALUE = re.compile(rb"[A-Za-z0-9._~!$&'()*+=-]+(:[0-9]*)?|\[[0-9A-Fa-f:.]+\](:[0-9]*)?")


# What a request field is to the proxy (plain ints: this runs for every field).
_HOST, _LENGTH, _CODING, _CONNECTION, _HOP, _EXPECT, _REQUEST_ID = range(1, 8)
_FORWARDED_FOR, _REPLACED, _VIA, _UPGRADE, _TRACEPARENT, _TRACESTATE = range(8, 14)
_FIELDS: dict[bytes, int] = {
    b"host": _HOST,
    b"content-length": _LENGTH,
    b"transfer-encoding": _CODING,
    b"connection": _CONNECTION,
    b"expect": _EXPECT,
    b"x-request-id": _REQUEST_ID,
    b"x-forwarded-for": _FORWARDED_FOR,
    b"x-forwarded-proto": _REPLACED,  # set by the gateway: the client's copy is dropped
    b"x-forwarded-host": _REPLACED,
    # Who is calling, as the gateway's auth says (DESIGN.md): never as the client says.
    b"x-consumer": _REPLACED,
    b"x-tenant": _REPLACED,
    b"via": _VIA,
    b"upgrade": _UPGRADE,
    # W3C trace context: the gateway's span goes between the client's and the upstream's.
    b"traceparent": _TRACEPARENT,
    b"tracestate": _TRACESTATE,
    **{name: _HOP for name in HOP_BY_HOP - {b"connection", b"upgrade"}},
}
# Connection tokens that name no other field.
_CONNECTION_OPTIONS = frozenset({b"close", b"keep-alive", b"upgrade"})
# Clients spell field names and Host values the same way request after request: kinds
# by the name as received, and Host values already checked, skip the per-request work.
# Bounded, since both come from outside.
_KINDS: dict[bytes, int] = {}
_VALID_HOSTS: set[bytes] = set()
_CACHE_SIZE = 1024


class RequestHead:
    """One request's head: what to forward, and how its body is framed."""

    __slots__ = (
        "chunked",
        "content_length",
        "expect_continue",
        "forwarded_for",
        "has_body",
        "headers",
        "host",
        "keep_alive",
        "method",
        "request_id",
        "target",
        "traceparent",
        "tracestate",
        "upgrade",
        "version",
        "via",
    )

    def __init__(self, method: bytes, target: bytes, version: bytes, keep_alive: bool) -> None:
        self.method = method
        self.target = target  # the request target as received: path and query
        self.version = version  # b"1.1" or b"1.0"
        self.keep_alive = keep_alive
        # Filled from the header fields
        self.headers: Headers = []  # end-to-end fields, forwarded as received
        self.host = b""
        self.content_length = -1  # -1: no Content-Length
        self.chunked = False
        self.has_body = False  # set once the framing fields are read
        self.expect_continue = False
        self.upgrade: bytes | None = None  # the Upgrade value of an upgrade request
        self.request_id: bytes | None = None  # a valid incoming X-Request-ID
        self.forwarded_for: bytes | None = None
        self.via: bytes | None = None
        self.traceparent: bytes | None = None  # b"": sent more than once, so invalid
        self.tracestate: bytes | None = None

    def __repr__(self) -> str:
        framing = "chunked" if self.chunked else f"length={self.content_length}"
        return (
            f"<RequestHead {self.method.decode()} {self.target!r} HTTP/{self.version.decode()}"
            f" host={self.host!r} {framing} fields={len(self.headers)}>"
        )


def read_request_head(
    method: bytes,
    target: bytes,
    version: str,
    fields: Headers,
    keep_alive: bool,
    upgrade: bool,
) -> RequestHead:
    """The RequestHead of a parsed head; raises the ProxyError to answer with."""
    if version == "1.1":
        head = RequestHead(method, target, b"1.1", keep_alive)
    elif version == "1.0":
        head = RequestHead(method, target, b"1.0", keep_alive)
    else:
        raise VersionNotSupported(f"HTTP/{version} is not served; use HTTP/1.1")
    host: bytes | None = None
    codings: list[bytes] | None = None
    connection: list[bytes] | None = None
    upgrade_value: bytes | None = None
    forward = head.headers
    kinds = _KINDS
    for field in fields:
        name, value = field
        kind = kinds.get(name)
        if kind is None:
            kind = _kind(name)
        if not kind:
            forward.append(field)
        elif kind == _HOST:
            if host is not None:
                raise BadRequest("the request has more than one Host header")
            host = value
        elif kind == _LENGTH:
            # llhttp has checked the digits and refused duplicates.
            head.content_length = int(value)
        elif kind == _CODING:
            codings = [value] if codings is None else [*codings, value]
        elif kind == _CONNECTION:
            tokens = [token.strip().lower() for token in value.split(b",")]
            connection = tokens if connection is None else connection + tokens
        elif kind == _EXPECT:
            if value.strip().lower() != b"100-continue":
                raise ExpectationFailed(f"only Expect: 100-continue is understood, not {value!r}")
            head.expect_continue = True
        elif kind == _REQUEST_ID:
            if _REQUEST_ID_VALUE.fullmatch(value):
                head.request_id = value
        elif kind == _TRACEPARENT:
            head.traceparent = value if head.traceparent is None else b""
        elif kind == _TRACESTATE:
            previous = head.tracestate
            head.tracestate = value if previous is None else previous + b"," + value
        elif kind == _FORWARDED_FOR:
            previous = head.forwarded_for
            head.forwarded_for = value if previous is None else previous + b", " + value
        elif kind == _VIA:
            head.via = value if head.via is None else head.via + b", " + value
        elif kind == _UPGRADE:
            upgrade_value = value
        # Hop-by-hop and replaced fields are dropped.
    if host is None:
        if head.version == b"1.1":
            raise BadRequest("an HTTP/1.1 request needs a Host header")
    elif host in _VALID_HOSTS or _valid_host(host):
        head.host = host
    else:
        raise BadRequest("the Host header is not a host name with an optional port")
    if codings:
        _check_codings(head, codings)
    if upgrade:
        _check_upgrade(head, upgrade_value)
    if connection:
        named = frozenset(connection) - _CONNECTION_OPTIONS
        if named:
            # Fields named in Connection are hop-by-hop too (RFC 9110 7.6.1).
            head.headers = [(n, v) for n, v in forward if n.lower() not in named]
    head.has_body = head.chunked or head.content_length > 0
    return head


def _kind(name: bytes) -> int:
    """What the field `name` (as received) is to the proxy: one of the kinds, 0 for others."""
    kind = _FIELDS.get(name.lower(), 0)
    if len(_KINDS) >= _CACHE_SIZE:
        _KINDS.clear()
    _KINDS[name] = kind
    return kind


def _valid_host(host: bytes) -> bool:
    if not _HOST_VALUE.fullmatch(host):
        return False
    if len(_VALID_HOSTS) >= _CACHE_SIZE:
        _VALID_HOSTS.clear()
    _VALID_HOSTS.add(host)
    return True


def _check_codings(head: RequestHead, codings: list[bytes]) -> None:
    if head.version == b"1.0":
        # RFC 9112 6.1: Transfer-Encoding in an HTTP/1.0 message is faulty framing.
        raise BadRequest("Transfer-Encoding is not allowed in an HTTP/1.0 request")
    coding = b",".join(codings).strip().lower()
    if coding != b"chunked":
        raise BadRequest(f"only the chunked transfer coding is accepted, not {coding!r}")
    head.chunked = True


def _check_upgrade(head: RequestHead, value: bytes | None) -> None:
    if value is None:  # llhttp flags CONNECT as an upgrade too
        raise BadRequest(f"{head.method.decode()} requests are not proxied")
    if head.chunked or head.content_length > 0:
        raise BadRequest("an Upgrade request may not carry a body")
    head.upgrade = value


def headers_by_name(head: RequestHead) -> dict[str, str]:
    """The forwarded fields by lower-case name, for routes that match on headers."""
    found = {
        name.lower().decode("latin-1"): value.decode("latin-1") for name, value in head.headers
    }
    found["host"] = head.host.decode("latin-1")
    return found


def header_value(head: RequestHead, name: bytes) -> bytes | None:
    """The first value of the field `name` (lower case), or None."""
    for field_name, value in head.headers:
        if field_name.lower() == name:
            return value
    return None
