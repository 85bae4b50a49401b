"""The demo upstream of `fleetgate up`: answers every request with what it received, as JSON.

A real HTTP/1.1 server (httptools, keep-alive, bodies read in full) so the demo route
proxies to something that exists: `curl http://127.0.0.1:8080/demo/hello` shows the
method, path, headers and body size the upstream saw, `X-Forwarded-For` included.
"""

from __future__ import annotations

import asyncio
import json

import httptools

SERVER = "fleetgate-demo-upstream"


class EchoProtocol(asyncio.Protocol):
    """One client connection; requests are answered in order as they complete."""

    def __init__(self) -> None:
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        # Per-request state
        self._url = b""
        self._headers: list[tuple[str, str]] = []
        self._body_bytes = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            self._answer(400, {"error": "malformed request"}, keep_alive=False)

    # httptools callbacks

    def on_message_begin(self) -> None:
        self._url, self._headers, self._body_bytes = b"", [], 0

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.decode("latin-1").lower(), value.decode("latin-1")))

    def on_body(self, body: bytes) -> None:
        self._body_bytes += len(body)

    def on_message_complete(self) -> None:
        url = httptools.parse_url(self._url)
        echo = {
            "upstream": SERVER,
            "method": self._parser.get_method().decode(),
            "path": url.path.decode("latin-1"),
            "query": (url.query or b"").decode("latin-1"),
            "headers": dict(self._headers),
            "body_bytes": self._body_bytes,
        }
        self._answer(200, echo, keep_alive=self._parser.should_keep_alive())

    def _answer(self, status: int, body: dict[str, object], *, keep_alive: bool) -> None:
        if self._transport is None or self._transport.is_closing():
            return
        payload = json.dumps(body, indent=2).encode() + b"\n"
        reason = b"OK" if status == 200 else b"Bad Request"
        head = (
            b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
            b"server: %s\r\n" % (status, reason, len(payload), SERVER.encode())
        )
        if not keep_alive:
            head += b"connection: close\r\n"
        self._transport.writelines([head, b"\r\n", payload])
        if not keep_alive:
            self._transport.close()


async def start_echo(host: str = "127.0.0.1", port: int = 0) -> asyncio.Server:
    """The demo upstream, listening; `server.sockets[0].getsockname()` gives the port."""
    loop = asyncio.get_running_loop()
    return await loop.create_server(EchoProtocol, host, port)
