"""The head of the request sent upstream: the client's fields plus the forwarding fields.

Built once per request as two pieces: the request line, and the block of fields
after the Host line. The Host line belongs to the target (pre-built per target by
the service), so a retry on another target reuses the block as it is.
"""

from __future__ import annotations

from .request import RequestHead

VIA = b"1.1 fleetgate"
_PROTO_AND_VIA = b"X-Forwarded-Proto: http\r\nVia: "
_CHUNKED = b"Transfer-Encoding: chunked\r\n"


def request_line(head: RequestHead, path: bytes) -> bytes:
    """`METHOD path?query HTTP/1.1`: the normalized path, the query byte for byte."""
    target = head.target
    query = target.find(b"?")
    if query < 0:
        return head.method + b" " + path + b" HTTP/1.1\r\n"
    return head.method + b" " + path + target[query:] + b" HTTP/1.1\r\n"


def fields_block(head: RequestHead, client: bytes, request_id: bytes) -> bytes:
    """Every field after Host, through the blank line that ends the head."""
    parts: list[bytes] = []
    for name, value in head.headers:
        parts += (name, b": ", value, b"\r\n")
    forwarded_for = client if head.forwarded_for is None else head.forwarded_for + b", " + client
    via = VIA if head.via is None else head.via + b", " + VIA
    parts += (
        b"X-Forwarded-For: ",
        forwarded_for,
        b"\r\nX-Forwarded-Host: ",
        head.host,
        b"\r\n",
        _PROTO_AND_VIA,
        via,
        b"\r\nX-Request-ID: ",
        request_id,
        b"\r\n",
    )
    if head.chunked:
        parts.append(_CHUNKED)
    elif head.content_length >= 0:
        parts.append(b"Content-Length: %d\r\n" % head.content_length)
    if head.upgrade is not None:
        parts += (b"Connection: upgrade\r\nUpgrade: ", head.upgrade, b"\r\n")
    parts.append(b"\r\n")
    return b"".join(parts)
