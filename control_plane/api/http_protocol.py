"""The admin API's HTTP/1.1 protocol: uvicorn's, with a bounded request head and the
JSON error body on the answers uvicorn makes before the application runs.

uvicorn's httptools protocol buffers a request head of any size (a 32 MB header was
accepted) and answers a malformed request with plain text. Here a head over
`MAX_HEAD_BYTES` or `MAX_HEADER_COUNT` fields is 431, a target over `MAX_URL_BYTES` is
414, and those and uvicorn's own 400 carry `{"error": {"code", "message", "request_id"}}`.
"""

from __future__ import annotations

import json
import uuid

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

MAX_HEAD_BYTES = 64 * 1024  # the data plane's limit, and Envoy's and nginx's order
MAX_HEADER_COUNT = 100
MAX_URL_BYTES = 8 * 1024

_REFUSALS = {
    400: ("bad_request", "the request is not valid HTTP/1.1"),
    414: ("uri_too_long", f"the request target is longer than {MAX_URL_BYTES} bytes"),
    431: (
        "headers_too_large",
        f"the request head is over {MAX_HEAD_BYTES} bytes or {MAX_HEADER_COUNT} fields",
    ),
}


def error_answer(status: int) -> bytes:
    """A whole response with the JSON error body; the connection closes after it."""
    code, message = _REFUSALS[status]
    error = {"code": code, "message": message, "request_id": uuid.uuid4().hex}
    body = json.dumps({"error": error}).encode()
    return b"".join(
        (
            STATUS_LINE[status],
            b"content-type: application/json\r\n",
            b"content-length: %d\r\n" % len(body),
            b"connection: close\r\n\r\n",
            body,
        )
    )


class _HeadRefused(Exception):
    """Raised in a parser callback; httptools turns it into a parser error."""


class AdminHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a bounded head and JSON refusals."""

    # Bytes received since the last request head was complete: the head being read.
    _pending = 0
    _head_bytes = 0  # of the fields read so far
    _reading_head = True
    _refusal: int | None = None  # the status a callback refused the head with

    def data_received(self, data: bytes) -> None:
        if self._reading_head:
            self._pending += len(data)
        super().data_received(data)
        if self._reading_head and self._pending > MAX_HEAD_BYTES:
            self._refuse(431)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._reading_head = True
        self._head_bytes = 0

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        if len(self.url) > MAX_URL_BYTES:
            self._refusal = 414
            raise _HeadRefused

    def on_header(self, name: bytes, value: bytes) -> None:
        super().on_header(name, value)
        self._head_bytes += len(name) + len(value) + 4
        if len(self.headers) > MAX_HEADER_COUNT or self._head_bytes > MAX_HEAD_BYTES:
            self._refusal = 431
            raise _HeadRefused

    def on_headers_complete(self) -> None:
        self._reading_head = False
        self._pending = 0
        super().on_headers_complete()

    def send_400_response(self, msg: str) -> None:
        # uvicorn's answer to any parser error, a callback's refusal among them.
        self._refuse(self._refusal or 400)

    def _refuse(self, status: int) -> None:
        if self.transport.is_closing():
            return
        self.transport.write(error_answer(status))
        self.transport.close()
