"""The head of the request sent upstream: the route's request line, the client's fields
plus the forwarding fields.

Built once per request as two pieces: the request line (which depends on the route the
request matched), and the block of fields after the Host line. The Host line belongs to
the target (pre-built per target by the service), so a retry on another target reuses
the block as it is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from data_plane.routing import (
    BadPath,
    MethodNotAllowed,
    RouteTable,
    already_normalized,
    normalize_path,
)

from .errors import BadRequest, NoRouteForMethod, RouteNotFound
from .request import RequestHead, headers_by_name

if TYPE_CHECKING:
    from data_plane.runtime import RoutePlan

VIA = b"1.1 fleetgate"
_PROTO_AND_VIA = (b"X-Forwarded-Proto: http\r\nVia: ", b"X-Forwarded-Proto: https\r\nVia: ")
_CHUNKED = b"Transfer-Encoding: chunked\r\n"
METHOD_NAMES = {
    m: m.decode()
    for m in (b"GET", b"HEAD", b"POST", b"PUT", b"PATCH", b"DELETE", b"OPTIONS", b"TRACE")
}


def route_request(table: RouteTable[RoutePlan], head: RequestHead) -> tuple[RoutePlan, bytes]:
    """The route `head` matches and the request line to send upstream; raises the
    ProxyError to answer with (400 for a bad path, 404, 405)."""
    target = head.target
    query = target.find(b"?")
    raw_path = target if query < 0 else target[:query]
    try:
        path = already_normalized(raw_path)
        as_received = path is not None
        if path is None:
            path = normalize_path(raw_path)
        method = METHOD_NAMES.get(head.method) or head.method.decode("ascii")
        headers = headers_by_name(head) if table.needs_headers else None
        match = table.match(method, head.host.decode("latin-1"), path, headers)
    except BadPath as exc:
        raise BadRequest(str(exc)) from None
    if match is None:
        raise RouteNotFound(f"no route for {method} {path}")
    if isinstance(match, MethodNotAllowed):
        raise NoRouteForMethod(
            f"the route does not take {method}", headers=((b"Allow", match.allow.encode()),)
        )
    forwarded = match.path
    if as_received and forwarded is path:
        # The path needed no normalizing and the route keeps it: the target goes up as
        # received, query and all.
        return match.route, head.method + b" " + target + b" HTTP/1.1\r\n"
    return match.route, request_line(head, forwarded.encode("ascii"))


def request_line(head: RequestHead, path: bytes) -> bytes:
    """`METHOD path?query HTTP/1.1`: the normalized path, the query byte for byte."""
    target = head.target
    query = target.find(b"?")
    if query < 0:
        return head.method + b" " + path + b" HTTP/1.1\r\n"
    return head.method + b" " + path + target[query:] + b" HTTP/1.1\r\n"


def with_query(line: bytes, method_length: int, query: bytes) -> bytes:
    """The request line `line` with its query string replaced by `query` (b"": none)."""
    start = method_length + 1
    end = len(line) - len(b" HTTP/1.1\r\n")
    path = line[start:end]
    mark = path.find(b"?")
    if mark >= 0:
        path = path[:mark]
    return line[:start] + path + (b"?" + query if query else b"") + line[end:]


def fields_block(
    head: RequestHead,
    client: bytes,
    request_id: bytes,
    traceparent: bytes = b"",
    tracestate: bytes | None = None,
    *,
    https: bool = False,
) -> bytes:
    """Every field after Host, through the blank line that ends the head; `traceparent`
    and `tracestate` are the gateway's (tracing.py), the client's are never forwarded;
    `https`: the client came in over TLS."""
    parts: list[bytes] = []
    for name, value in head.headers:
        parts += (name, b": ", value, b"\r\n")
    forwarded_for = client if head.forwarded_for is None else head.forwarded_for + b", " + client
    via = VIA if head.via is None else head.via + b", " + VIA
    parts += (
        b"X-Forwarded-For: ",
        forwarded_for,
        b"\r\nX-Forwarded-Host: ",
        head.host,
        b"\r\n",
        _PROTO_AND_VIA[https],
        via,
        b"\r\nX-Request-ID: ",
        request_id,
        b"\r\n",
    )
    if traceparent:
        parts += (b"traceparent: ", traceparent, b"\r\n")
        if tracestate:
            parts += (b"tracestate: ", tracestate, b"\r\n")
    if head.chunked:
        parts.append(_CHUNKED)
    elif head.content_length >= 0:
        parts.append(b"Content-Length: %d\r\n" % head.content_length)
    if head.upgrade is not None:
        parts += (b"Connection: upgrade\r\nUpgrade: ", head.upgrade, b"\r\n")
    parts.append(b"\r\n")
    return b"".join(parts)


def https_location(head: RequestHead, port: int) -> bytes:
    """Where an `https_only` route sends a plain-HTTP request: the same host (its port
    replaced by the HTTPS listener's, left out when that is 443) and target."""
    host = head.host
    bracket = host.find(b"]")  # an IPv6 literal: its colons are not the port's
    host = host[: bracket + 1] if bracket > 0 else host.partition(b":")[0]
    if port != 443:
        host += b":%d" % port
    return b"https://" + host + head.target
