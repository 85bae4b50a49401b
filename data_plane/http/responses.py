"""Bytes of the responses the gateway writes itself, and the status-line table.

Status lines are built once at import (like uvicorn's STATUS_LINE) and looked up per
response. Every answer the gateway makes itself carries the JSON error body of
DESIGN.md, with the request id the upstream would have seen.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from http import HTTPStatus

from .errors import ProxyError

STATUS_LINE: dict[int, bytes] = {
    status.value: b"HTTP/1.1 %d %s\r\n" % (status.value, status.phrase.encode("ascii"))
    for status in HTTPStatus
}
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_CLOSE = b"Connection: close\r\n"
_JSON = b"Content-Type: application/json\r\n"


def status_line(status: int) -> bytes:
    """`HTTP/1.1 <status> <reason>\\r\\n`; statuses without a registered reason get none."""
    line = STATUS_LINE.get(status)
    if line is None:
        line = b"HTTP/1.1 %d \r\n" % status
    return line


def error_body(error: ProxyError, request_id: bytes) -> bytes:
    return json.dumps(
        {
            "error": {
                "code": error.code,
                "message": error.message,
                "request_id": request_id.decode("ascii"),
            }
        },
        separators=(",", ":"),
    ).encode()


def error_response(
    error: ProxyError,
    request_id: bytes,
    date_line: bytes,
    *,
    close: bool,
    head_only: bool = False,
    fields: Sequence[tuple[bytes, bytes]] | None = None,
) -> bytes:
    """The whole response for `error`; without a body for a HEAD request.

    `fields` replaces the error's own extra fields when given (a route's policies
    edit them: CORS, RateLimit).
    """
    body = error_body(error, request_id)
    parts = [
        status_line(error.status),
        date_line,
        _JSON,
        b"Content-Length: %d\r\n" % len(body),
        b"X-Request-ID: " + request_id + b"\r\n",
    ]
    extra = error.headers if fields is None else fields
    parts.extend(name + b": " + value + b"\r\n" for name, value in extra)
    if close:
        parts.append(_CLOSE)
    parts.append(b"\r\n")
    if not head_only:
        parts.append(body)
    return b"".join(parts)


def reply_response(
    status: int,
    fields: Sequence[tuple[bytes, bytes]],
    request_id: bytes,
    date_line: bytes,
    *,
    close: bool,
) -> bytes:
    """A bodiless answer made at the edge (a CORS preflight's 204, a redirect)."""
    parts = [status_line(status), date_line, b"X-Request-ID: " + request_id + b"\r\n"]
    parts.extend(name + b": " + value + b"\r\n" for name, value in fields)
    if status != 204 and not 100 <= status < 200 and status != 304:
        parts.append(b"Content-Length: 0\r\n")
    if close:
        parts.append(_CLOSE)
    parts.append(b"\r\n")
    return b"".join(parts)
