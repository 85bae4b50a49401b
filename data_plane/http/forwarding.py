"""The head of the request sent upstream: the route's request line, the client's fields
plus the forwarding fields.

Built once per request as two pieces: the request line (which depends on the route the
request matched), and the block of fields after the Host line (heads' `fields_block`,
one call once the policies have run). The Host line belongs to the target (pre-built
per target by the service), so a retry on another target reuses the block as it is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from data_plane.routing import MethodNotAllowed, RouteTable

from .errors import NoRouteForMethod, RouteNotFound
from .head_path import fields_block
from .request import RequestHead, headers_by_name

if TYPE_CHECKING:
    from data_plane.runtime import RoutePlan

__all__ = ["fields_block", "https_location", "request_line", "route_request", "with_query"]

METHOD_NAMES = {
    m: m.decode()
    for m in (b"GET", b"HEAD", b"POST", b"PUT", b"PATCH", b"DELETE", b"OPTIONS", b"TRACE")
}


def route_request(table: RouteTable[RoutePlan], head: RequestHead) -> tuple[RoutePlan, bytes]:
    """The route `head` matches and the request line to send upstream; raises the
    ProxyError to answer with (404, 405). The path is the one the parser normalized."""
    path = head.path
    method = METHOD_NAMES.get(head.method) or head.method.decode("ascii")
    headers = headers_by_name(head) if table.needs_headers else None
    match = table.match(method, head.host.decode("latin-1"), path, headers)
    if match is None:
        raise RouteNotFound(f"no route for {method} {path}")
    if isinstance(match, MethodNotAllowed):
        raise NoRouteForMethod(
            f"the route does not take {method}", headers=((b"Allow", match.allow.encode()),)
        )
    forwarded = match.path
    if head.as_received and forwarded is path:
        # The path needed no normalizing and the route keeps it: the target goes up as
        # received, query and all.
        return match.route, head.method + b" " + head.target + b" HTTP/1.1\r\n"
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


def https_location(head: RequestHead, port: int) -> bytes:
    """Where an `https_only` route sends a plain-HTTP request: the same host (its port
    replaced by the HTTPS listener's, left out when that is 443) and target."""
    host = head.host
    bracket = host.find(b"]")  # an IPv6 literal: its colons are not the port's
    host = host[: bracket + 1] if bracket > 0 else host.partition(b":")[0]
    if port != 443:
        host += b":%d" % port
    return b"https://" + host + head.target
