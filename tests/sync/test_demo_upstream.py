"""The demo upstream of `fleetgate up`: a real HTTP/1.1 server that echoes requests."""

from __future__ import annotations

import asyncio
import json

from control_plane.up.echo import start_echo

from .harness import run


async def exchange(port: int, raw: bytes, answers: int = 1) -> list[bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(raw)
    await writer.drain()
    replies = []
    for _ in range(answers):
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        replies.append(head + await reader.readexactly(length))
    writer.close()
    return replies


def body(reply: bytes) -> dict[str, object]:
    return json.loads(reply.split(b"\r\n\r\n", 1)[1])


def test_a_request_is_echoed_as_json() -> None:
    async def scenario() -> list[bytes]:
        server = await start_echo()
        try:
            port = server.sockets[0].getsockname()[1]
            return await exchange(
                port,
                b"POST /demo/hello?x=1 HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 10.0.0.1\r\n"
                b"Content-Length: 5\r\n\r\nhello",
            )
        finally:
            server.close()

    (reply,) = run(scenario())
    assert reply.startswith(b"HTTP/1.1 200 OK\r\n")
    echoed = body(reply)
    assert (echoed["method"], echoed["path"], echoed["query"], echoed["body_bytes"]) == (
        "POST",
        "/demo/hello",
        "x=1",
        5,
    )
    assert echoed["headers"]["x-forwarded-for"] == "10.0.0.1"  # type: ignore[index]


def test_keep_alive_requests_are_answered_in_order() -> None:
    async def scenario() -> list[bytes]:
        server = await start_echo()
        try:
            port = server.sockets[0].getsockname()[1]
            return await exchange(
                port,
                b"GET /one HTTP/1.1\r\nHost: a\r\n\r\nGET /two HTTP/1.1\r\nHost: a\r\n\r\n",
                answers=2,
            )
        finally:
            server.close()

    first, second = run(scenario())
    assert (body(first)["path"], body(second)["path"]) == ("/one", "/two")


def test_a_malformed_request_gets_400_and_the_connection_closes() -> None:
    async def scenario() -> bytes:
        server = await start_echo()
        try:
            port = server.sockets[0].getsockname()[1]
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"NOT HTTP AT ALL\r\n\r\n")
            reply = await reader.read()  # until the server closes
            writer.close()
            return reply
        finally:
            server.close()

    assert run(scenario()).startswith(b"HTTP/1.1 400 ")
