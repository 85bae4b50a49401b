"""The head path the proxy runs: `heads` compiled (heads_c) or its pure-Python twin.

data_plane/extensions.py decides (FLEETGATE_NO_EXTENSIONS=1 forces the twin); the
protocol code imports the parsers and head builders from here, never from either
module directly, so one switch moves every connection of the process.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from data_plane.extensions import is_compiled, load

heads = load("data_plane.http.heads")
COMPILED = is_compiled(heads)

if TYPE_CHECKING:
    from .heads import (
        BODY_CHUNKED,
        BODY_NONE,
        BODY_RAW,
        END,
        EndOfMessage,
        Headers,
        RequestHead,
        RequestParser,
        ResponseHead,
        ResponseParser,
        fields_block,
        reply_head,
        tunnel_head,
    )
else:
    BODY_CHUNKED = heads.BODY_CHUNKED
    BODY_NONE = heads.BODY_NONE
    BODY_RAW = heads.BODY_RAW
    END = heads.END
    EndOfMessage = heads.EndOfMessage
    Headers = list[tuple[bytes, bytes]]
    RequestHead = heads.RequestHead
    RequestParser = heads.RequestParser
    ResponseHead = heads.ResponseHead
    ResponseParser = heads.ResponseParser
    fields_block = heads.fields_block
    reply_head = heads.reply_head
    tunnel_head = heads.tunnel_head

__all__ = [
    "BODY_CHUNKED",
    "BODY_NONE",
    "BODY_RAW",
    "COMPILED",
    "END",
    "EndOfMessage",
    "Headers",
    "RequestHead",
    "RequestParser",
    "ResponseHead",
    "ResponseParser",
    "fields_block",
    "reply_head",
    "tunnel_head",
]
