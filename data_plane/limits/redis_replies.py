"""Redis replies read from the bytes as they arrive: no I/O, fed like h11 is fed.

A rate-limit decision's reply is an array of integers, or an error: redis-py's parser
read it a line at a time through the stream reader, about half the client's CPU per
decision. This reads every reply in one chunk with a few `find` calls. It knows the
RESP types a script can answer with (integers, arrays, errors, simple and bulk strings,
nulls); anything else is refused, and the connection with it.
"""

from __future__ import annotations

from typing import TypeAlias


class ErrorReply:
    """An error Redis answered with (`-NOSCRIPT ...`): a value, in its reply's place."""

    __slots__ = ("message",)

    def __init__(self, message: str) -> None:
        self.message = message

    def __repr__(self) -> str:
        return f"<ErrorReply {self.message!r}>"


class UnreadableReply(Exception):
    """Bytes that are not a reply this reader knows: the connection is out of step."""


Reply: TypeAlias = "int | bytes | ErrorReply | list[Reply] | None"

_INCOMPLETE = -1
# A decision's reply is a few integers. Nothing a script of ours answers comes near these
# bounds; a reply past one is refused (and its connection dropped) instead of held.
MAX_REPLY_BYTES = 1 << 20
MAX_ITEMS = 1 << 16
MAX_DEPTH = 8


class ReplyReader:
    """Turns the bytes of a connection into replies, in order."""

    __slots__ = ("_pending",)

    def __init__(self) -> None:
        self._pending = b""  # the start of a reply whose end has not come yet

    def feed(self, data: bytes) -> list[Reply]:
        """Every reply complete in what came so far; the rest waits for more bytes."""
        if self._pending:
            data = self._pending + data
        replies: list[Reply] = []
        pos = 0
        try:
            while pos < len(data):
                reply, after = _reply(data, pos)
                if after == _INCOMPLETE:
                    break
                replies.append(reply)
                pos = after
        except ValueError:  # a length or an integer that is not one
            raise UnreadableReply(f"not a reply: {data[pos : pos + 40]!r}") from None
        self._pending = data[pos:]
        if len(self._pending) > MAX_REPLY_BYTES:
            raise UnreadableReply(f"a reply of over {MAX_REPLY_BYTES} bytes")
        return replies


def _reply(data: bytes, pos: int, depth: int = 0) -> tuple[Reply, int]:
    """The reply starting at `pos` and the position after it (`_INCOMPLETE`: not all here);
    `depth`: how many arrays hold it."""
    end = data.find(b"\r\n", pos)
    if end < 0:
        return None, _INCOMPLETE
    kind = data[pos]
    if kind == 58:  # ":" integer
        return int(data[pos + 1 : end]), end + 2
    if kind == 42:  # "*" array
        count = int(data[pos + 1 : end])
        if count > MAX_ITEMS or depth == MAX_DEPTH:
            raise UnreadableReply(f"an array of {count} items at depth {depth + 1}")
        pos = end + 2
        if count < 0:
            return None, pos
        items: list[Reply] = []
        for _ in range(count):
            item, pos = _reply(data, pos, depth + 1)
            if pos == _INCOMPLETE:
                return None, _INCOMPLETE
            items.append(item)
        return items, pos
    if kind == 45:  # "-" error
        return ErrorReply(data[pos + 1 : end].decode("utf-8", "replace")), end + 2
    if kind == 43:  # "+" simple string
        return data[pos + 1 : end], end + 2
    if kind == 36:  # "$" bulk string
        size = int(data[pos + 1 : end])
        if size > MAX_REPLY_BYTES:
            raise UnreadableReply(f"a bulk string of {size} bytes")
        if size < 0:
            return None, end + 2
        start = end + 2
        if len(data) < start + size + 2:
            return None, _INCOMPLETE
        return data[start : start + size], start + size + 2
    if kind == 95:  # "_" null (RESP3)
        return None, end + 2
    raise UnreadableReply(f"a reply of type {chr(kind)!r} where a script's reply was due")
