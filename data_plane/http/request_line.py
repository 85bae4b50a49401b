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

if cython.compiled:
    from cython.cimports.cpython.bytes import (
        PyBytes_AS_STRING,
        PyBytes_FromStringAndSize,
        PyBytes_GET_SIZE,
    )
    from cython.cimports.libc.string import memcpy
else:  # compiled, request_line_c.pxd cimports the head path's class and the route lookup
    from data_plane.routing.lookup import match as table_match

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
    # `table.match` is the lookup's `match` (routing/table.py): called here as a function,
    # in C in the compiled twin.
    match = table_match(table, method, head.host.decode("latin-1"), path, headers)
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
        if cython.compiled:
            return match.route, _line(head.method, head.target, b"")
        return match.route, head.method + b" " + head.target + _VERSION
    return match.route, request_line(head, forwarded.encode("ascii"))


def request_line(head: RequestHead, path: bytes) -> bytes:
    """`METHOD path?query HTTP/1.1`: the normalized path, the query byte for byte."""
    target = head.target
    query = target.find(b"?")
    if not cython.compiled:  # the pure twin: without `_line`'s Python call
        query_part = b"" if query < 0 else target[query:]
        return head.method + b" " + path + query_part + _VERSION
    return _line(head.method, path, b"" if query < 0 else target[query:])


_VERSION = b" HTTP/1.1\r\n"


def _line(method: bytes, path: bytes, query: bytes) -> bytes:
    """Compiled twin only: `method path query HTTP/1.1\\r\\n`, written into one new
    bytes object (three concatenations made two bytes objects to throw away)."""
    if method is None or path is None or query is None:
        raise TypeError("a request line is made of bytes")
    size = PyBytes_GET_SIZE(method)
    line = PyBytes_FromStringAndSize(
        cython.NULL, size + 1 + PyBytes_GET_SIZE(path) + PyBytes_GET_SIZE(query) + 11
    )
    out = PyBytes_AS_STRING(line)
    memcpy(out, PyBytes_AS_STRING(method), size)
    out[size] = 32  # " "
    out += size + 1
    size = PyBytes_GET_SIZE(path)
    memcpy(out, PyBytes_AS_STRING(path), size)
    out += size
    size = PyBytes_GET_SIZE(query)
    memcpy(out, PyBytes_AS_STRING(query), size)
    memcpy(out + size, PyBytes_AS_STRING(_VERSION), 11)
    return line
