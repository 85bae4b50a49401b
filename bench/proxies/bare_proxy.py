"""The Python ceiling: a bare uvloop + httptools reverse proxy with no features at all.

What any proxy on this stack must do and nothing more: parse the request with
httptools, forward it on a kept-alive upstream connection (hop-by-hop fields
dropped), parse the response with httptools and send it back, bodies streamed as
they come. No routing, no policies, no metrics, no timeouts, no forwarding fields.
fleetgate's rows are read against this one: the cost of its features over the floor
the event loop and the parser set.

Run: python -m bench.proxies.bare_proxy --listen 127.0.0.1:8080 --upstream 127.0.0.1:9000
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import cast

import httptools
import uvloop

from bench.proxies.arguments import proxy_arguments

HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)
REASONS = {200: b"OK", 204: b"No Content", 304: b"Not Modified", 404: b"Not Found"}


class Upstream(asyncio.Protocol):
    """One kept-alive connection to the upstream, serving one client request at a time."""

    def __init__(self, pool: deque[Upstream]) -> None:
        self.pool = pool
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.client: Client | None = None
        self.fields: list[bytes] = []
        self.chunked = False
        self.keep_alive = True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self in self.pool:
            self.pool.remove(self)
        if self.client is not None:
            self.client.transport.close()

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            assert self.transport is not None
            self.transport.close()

    def on_message_begin(self) -> None:
        self.fields = []

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() not in HOP_BY_HOP:
            self.fields += (name, b": ", value, b"\r\n")
        elif name.lower() == b"transfer-encoding":
            self.chunked = True

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        head = [b"HTTP/1.1 %d %s\r\n" % (status, REASONS.get(status, b""))]
        head += self.fields
        if self.chunked:
            head.append(b"Transfer-Encoding: chunked\r\n")
        head.append(b"\r\n")
        self.keep_alive = self.parser.should_keep_alive()
        assert self.client is not None
        self.client.transport.writelines(head)

    def on_body(self, body: bytes) -> None:
        assert self.client is not None
        if self.chunked:
            self.client.transport.writelines((b"%x\r\n" % len(body), body, b"\r\n"))
        else:
            self.client.transport.write(body)

    def on_message_complete(self) -> None:
        client = self.client
        assert client is not None and self.transport is not None
        if self.chunked:
            client.transport.write(b"0\r\n\r\n")
            self.chunked = False
        self.client = None
        if self.keep_alive:
            self.pool.append(self)
        else:
            self.transport.close()
        client.response_done()


class Client(asyncio.Protocol):
    """One client connection; requests are answered in order, one at a time."""

    def __init__(self, proxy: Proxy) -> None:
        self.proxy = proxy
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.url = b""
        self.head: list[bytes] = []
        self.upstream: Upstream | None = None
        self.pending: list[bytes] = []
        self.chunked = False
        self.busy = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.transport.close()
            return
        if self.pending and self.upstream is not None and self.upstream.transport is not None:
            self.upstream.transport.writelines(self.pending)
            self.pending = []

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() not in HOP_BY_HOP:
            self.head += (name, b": ", value, b"\r\n")
        elif name.lower() == b"transfer-encoding":
            self.chunked = True

    def on_headers_complete(self) -> None:
        # Reading pauses while a request is answered: no pipelining queue to keep.
        self.transport.pause_reading()
        method = self.parser.get_method()
        head = [method, b" ", self.url, b" HTTP/1.1\r\n", *self.head]
        if self.chunked:
            head.append(b"Transfer-Encoding: chunked\r\n")
        head.append(b"\r\n")
        self.url = b""
        self.head = []
        self.pending = [b"".join(head)]
        self.busy = True
        self.proxy.send(self)

    def on_body(self, body: bytes) -> None:
        if self.chunked:
            self.pending += (b"%x\r\n" % len(body), body, b"\r\n")
        else:
            self.pending.append(body)

    def on_message_complete(self) -> None:
        if self.chunked:
            self.pending.append(b"0\r\n\r\n")
            self.chunked = False

    def attached(self, upstream: Upstream) -> None:
        self.upstream = upstream
        upstream.client = self
        assert upstream.transport is not None
        upstream.transport.writelines(self.pending)
        self.pending = []

    def response_done(self) -> None:
        self.upstream = None
        self.busy = False
        if not self.transport.is_closing():
            self.transport.resume_reading()


class Proxy:
    """The listening side and the pool of idle upstream connections."""

    def __init__(self, loop: asyncio.AbstractEventLoop, host: str, port: int) -> None:
        self.loop = loop
        self.host = host
        self.port = port
        self.idle: deque[Upstream] = deque()

    def send(self, client: Client) -> None:
        if self.idle:
            client.attached(self.idle.pop())
            return
        connecting = self.loop.create_connection(lambda: Upstream(self.idle), self.host, self.port)
        asyncio.ensure_future(connecting).add_done_callback(
            lambda done: self._connected(client, done)
        )

    def _connected(self, client: Client, done: asyncio.Future[tuple[object, Upstream]]) -> None:
        if done.exception() is not None:
            client.transport.write(
                b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )
            client.transport.close()
            return
        _, upstream = done.result()
        client.attached(upstream)


async def serve(listen: tuple[str, int], upstream: tuple[str, int]) -> None:
    loop = asyncio.get_running_loop()
    proxy = Proxy(loop, *upstream)
    server = await loop.create_server(lambda: Client(proxy), *listen, backlog=4096)
    async with server:
        await server.serve_forever()


def main() -> None:
    args = proxy_arguments(__doc__.splitlines()[0])
    uvloop.run(serve(args.listen, args.upstream))


if __name__ == "__main__":
    main()
