"""The node's status server: `/health`, `/ready`, `/metrics`, `/stats` and `/config_dump`.

A small HTTP/1.1 server on the supervisor's loop. `/health` is 200 while the process
runs; `/ready` is 503 until a config is in place; `/metrics` asks every worker for its
counters when scraped and renders their sum; `/stats` shows the same sums as JSON;
`/config_dump` the config being served, secrets redacted. Each answer closes its connection:
probes and scrapes are rare, and that keeps this server a few lines long.

It is bounded like the proxy: a request target over 2 KiB is 414, a request over
16 KiB is 431, a request not complete within 10 s is 408, and each connection is
closed after its answer. Its 404 names the pages it has, never the path it was sent.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, Protocol, cast

from fleetgate_pb import config_pb2 as pb
from httptools import HttpParserError, HttpRequestParser
from prometheus_client import CONTENT_TYPE_LATEST

from data_plane.http.responses import status_line
from data_plane.metrics import SampleSum
from data_plane.metrics_text import render

log = logging.getLogger("fleetgate.status")
PROMETHEUS_TEXT = CONTENT_TYPE_LATEST.encode()
JSON = b"application/json"
MAX_URL_BYTES = 2048
MAX_REQUEST_BYTES = 16 * 1024
REQUEST_TIMEOUT = 10.0


class StatusSource(Protocol):
    """What the status pages show: the node, seen without importing it."""

    @property
    def ready(self) -> bool: ...

    @property
    def snapshot(self) -> pb.Snapshot | None: ...

    async def samples(self) -> SampleSum: ...

    async def config_dump(self) -> dict[str, Any]: ...

    async def stats_page(self) -> dict[str, Any]: ...


class StatusServer:
    def __init__(self, source: StatusSource) -> None:
        self.source = source
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
            snapshot = self.source.snapshot
            if self.source.ready and snapshot is not None:
                body = {"status": "ready", "version": snapshot.version, "hash": snapshot.hash}
                return 200, JSON, json.dumps(body).encode()
            return _error(503, "not_ready", "no config has been applied yet")
        if path == b"/metrics":
            samples = await self.source.samples()
            return 200, PROMETHEUS_TEXT, render(samples)
        if path == b"/stats":
            return 200, JSON, _json(await self.source.stats_page())
        if path == b"/config_dump":
            return 200, JSON, _json(await self.source.config_dump())
        return _error(
            404,
            "not_found",
            "the status pages are /health, /ready, /metrics, /stats and /config_dump",
        )


def _json(document: dict[str, Any]) -> bytes:
    return json.dumps(document, indent=2).encode() + b"\n"


def _error(status: int, code: str, message: str) -> tuple[int, bytes, bytes]:
    body = {"error": {"code": code, "message": message, "request_id": ""}}
    return status, JSON, json.dumps(body).encode()


class _TooLarge(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class _StatusConnection(asyncio.Protocol):
    def __init__(self, server: StatusServer) -> None:
        self.server = server
        self.parser = HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""
        self.received = 0
        self.task: asyncio.Task[None] | None = None
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, only alike.
        self.transport = transport = cast(asyncio.Transport, transport)
        self.timer = asyncio.get_running_loop().call_later(REQUEST_TIMEOUT, self._timed_out)

    def data_received(self, data: bytes) -> None:
        if self.task is not None:
            return  # answered already: whatever follows is ignored until the close
        self.received += len(data)
        try:
            if self.received > MAX_REQUEST_BYTES:
                raise _TooLarge(431, f"a status request holds at most {MAX_REQUEST_BYTES} bytes")
            self.parser.feed_data(data)
        except _TooLarge as exc:
            self._refuse(exc.status, str(exc))
        except HttpParserError as exc:
            cause = exc.__context__
            if isinstance(cause, _TooLarge):
                self._refuse(cause.status, str(cause))
            else:
                self._refuse(400, "malformed request")

    def connection_lost(self, exc: Exception | None) -> None:
        if self.timer is not None:
            self.timer.cancel()
        if self.task is not None:
            self.task.cancel()

    def on_url(self, url: bytes) -> None:
        self.url += url
        if len(self.url) > MAX_URL_BYTES:
            raise _TooLarge(414, f"a status page's target holds at most {MAX_URL_BYTES} bytes")

    def on_message_complete(self) -> None:
        if self.task is None:
            if self.timer is not None:
                self.timer.cancel()
            method = self.parser.get_method()
            self.task = asyncio.ensure_future(self._respond(method, self.url))

    def _timed_out(self) -> None:
        if self.task is None:
            self._refuse(408, f"the request was not complete within {REQUEST_TIMEOUT:g} s")

    def _refuse(self, status: int, message: str) -> None:
        codes = {400: "bad_request", 408: "timeout", 414: "uri_too_long", 431: "too_large"}
        self._write(*_error(status, codes[status], message), head_only=False)

    async def _respond(self, method: bytes, path: bytes) -> None:
        try:
            status, content_type, body = await self.server.answer(method, path)
        except Exception:
            log.exception("a status page failed")
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
