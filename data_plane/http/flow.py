"""Reading one side only as fast as the other side takes the bytes.

A connection's reading may be paused for several reasons at once (the upstream's
write buffer is full, pipelined requests wait their turn, a body is buffered while the
upstream connection opens, a broken request stops it for good); it resumes only when
every reason is gone. Reasons are bit flags, so pausing twice for the same reason is
harmless.
"""

from __future__ import annotations

import asyncio

PEER_BUSY = 1  # the other side's write buffer passed its high-water mark
QUEUED = 2  # pipelined requests wait behind the one in flight
BUFFERED = 4  # a request body waits for its upstream connection
STOPPED = 8  # a request broke: nothing more is read until the connection closes
HIGH_WATER = 256 * 1024  # per transport write buffer, and per buffered body
LOW_WATER = 64 * 1024


class FlowControl:
    """Pauses and resumes reading on one transport, by reason."""

    __slots__ = ("_transport", "reasons")

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self.reasons = 0

    @property
    def paused(self) -> bool:
        return self.reasons != 0

    def pause(self, reason: int) -> None:
        if not self.reasons:
            self._transport.pause_reading()
        self.reasons |= reason

    def resume(self, reason: int) -> None:
        if self.reasons & reason:
            self.reasons &= ~reason
            if not self.reasons and not self._transport.is_closing():
                self._transport.resume_reading()

    def clear(self) -> None:
        """Read again whatever the reasons were: the connection only drains now."""
        if self.reasons:
            self.reasons = 0
            if not self._transport.is_closing():
                self._transport.resume_reading()

    def __repr__(self) -> str:
        return f"<FlowControl reasons={self.reasons:#x}>"
