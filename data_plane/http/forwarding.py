"""The head of the request sent upstream: the route's request line, the client's fields
plus the forwarding fields.

Built once per request as two pieces: the request line (which depends on the route the
request matched; request_line.py, compiled or pure), and the block of fields after the
Host line (heads' `fields_block`, one call once the policies have run). The Host line
belongs to the target (pre-built per target by the service), so a retry on another
target reuses the block as it is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from data_plane.extensions import load

from .head_path import fields_block
from .request import RequestHead

__all__ = ["fields_block", "https_location", "request_line", "route_request", "with_query"]

if TYPE_CHECKING:
    from .request_line import request_line, route_request
else:  # compiled (request_line_c) unless FLEETGATE_NO_EXTENSIONS=1
    _twin = load("data_plane.http.request_line")
    request_line, route_request = _twin.request_line, _twin.route_request


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
