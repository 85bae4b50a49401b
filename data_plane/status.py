"""The node's status server: `/health`, `/ready` and `/metrics` on the status port.

A small HTTP/1.1 server on the supervisor's loop. `/health` is 200 while the process
runs; `/ready` is 503 until a config is in place; `/metrics` asks every worker for its
counters when scraped and renders their sum. Each answer closes its connection:
probes and scrapes are rare, and that keeps this server a few lines long.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import TYPE_CHECKING, cast

from httptools import HttpParserError, HttpRequestParser

from data_plane.http.responses import status_line

if TYPE_CHECKING:
    from data_plane.node import Node

log = logging.getLogger("fleetgate.status")
PROMETHEUS_TEXT = b"text/plain; version=0.0.4; charset=utf-8"
JSON = b"application/json"


class StatusServer:
    def __init__(self, node: Node) -> None:
        self.node = node
        self.server: asyncio.Server | None = None

    async def start(self, host: str, port: int) -> None:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(lambda: _StatusConnection(self), host, port)

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    async def answer(self, method: bytes, path: bytes) -> tuple[int, bytes, bytes]:
        """(status, content type, body) for one request."""
        path = path.split(b"?", 1)[0]
        if method not in (b"GET", b"HEAD"):
            return _error(405, "method_not_allowed", "the status server only answers GET")
        if path == b"/health":
            return 200, JSON, b'{"status":"ok"}'
        if path == b"/ready":
            node = self.node
            if node.ready and node.snapshot is not None:
                body = {
                    "status": "ready",
                    "version": node.snapshot.version,
                    "hash": node.snapshot.hash,
                }
                return 200, JSON, json.dumps(body).encode()
            return _error(503, "not_ready", "no config has been applied yet")
        if path == b"/metrics":
            samples = await self.node.samples()
            return 200, PROMETHEUS_TEXT, samples.render().encode()
        return _error(404, "not_found", f"no status page at {path.decode('latin-1')}")


def _error(status: int, code: str, message: str) -> tuple[int, bytes, bytes]:
    body = {"error": {"code": code, "message": message, "request_id": ""}}
    return status, JSON, json.dumps(body).encode()


class _StatusConnection(asyncio.Protocol):
    def __init__(self, server: StatusServer) -> None:
        self.server = server
        self.parser = HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""
        self.task: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, only alike.
        self.transport = transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except HttpParserError:
            self._write(*_error(400, "bad_request", "malformed request"), head_only=False)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.task is not None:
            self.task.cancel()

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_message_complete(self) -> None:
        if self.task is None:
            method = self.parser.get_method()
            self.task = asyncio.ensure_future(self._respond(method, self.url))

    async def _respond(self, method: bytes, path: bytes) -> None:
        try:
            status, content_type, body = await self.server.answer(method, path)
        except Exception:
            log.exception("status page %r failed", path)
            status, content_type, body = _error(500, "internal_error", "the status page failed")
        self._write(status, content_type, body, head_only=method == b"HEAD")

    def _write(self, status: int, content_type: bytes, body: bytes, *, head_only: bool) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        head = b"%sContent-Type: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % (
            status_line(status),
            content_type,
            len(body),
        )
        transport.write(head if head_only else head + body)
        transport.close()
