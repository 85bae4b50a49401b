"""A request's route and the request line sent upstream, once per request.

The per-request part of forwarding.py, apart so that it can be compiled: Cython builds
it into `request_line_c` (typed by `request_line_c.pxd`), and forwarding.py takes it
from data_plane/extensions.py's `load`, the pure twin under `FLEETGATE_NO_EXTENSIONS=1`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

try:
    import cython
except ImportError:  # Cython is only needed to build the compiled twin
    from data_plane import uncompiled as cython

from data_plane.routing import MethodNotAllowed, RouteTable

from .errors import NoRouteForMethod, RouteNotFound
from .request import headers_by_name

if not cython.compiled:  # compiled, request_line_c.pxd cimports the head path's class
    from .head_path import RequestHead

if TYPE_CHECKING:
    from data_plane.runtime import RoutePlan

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
