"""The control channel between the supervisor and a worker: framed messages on a socketpair.

A frame is a 9-byte header (payload length, request id, kind) and the payload. The
supervisor asks, the worker answers with the same request id, so a snapshot being
compiled does not hold up a metrics scrape. When either end closes, the other sees
EOF: a worker whose supervisor died drains and exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from enum import IntEnum, unique

_HEADER = struct.Struct("!IIB")
MAX_FRAME = 1 << 30  # a 10,000-route snapshot is a few MiB; this only bounds garbage


@unique  # two kinds sharing a number would be one kind, silently
class Kind(IntEnum):
    PREPARE = 1  # supervisor -> worker: a serialized Snapshot to compile and hold
    APPLIED = 2  # worker -> supervisor: JSON {"ok": bool, "error": str}, to PREPARE,
    # COMMIT and ABORT
    SAMPLES = 3  # supervisor asks for every counter; the worker answers with JSON
    SUMMARY = 4  # supervisor asks for the status totals; the worker answers with JSON
    COMMIT = 5  # supervisor -> worker: serve the prepared config from now on
    ABORT = 6  # supervisor -> worker: drop the prepared config
    PING = 7  # supervisor asks, the worker's event loop answers: the watchdog's probe
    REOPEN = 8  # supervisor asks the worker to open its access log again (rotation)
    HEALTH = 9  # supervisor -> worker: JSON {"unhealthy": [[service, address], ...]}, the
    # targets that fail their health checks now; answered with APPLIED
    PREPARE_CANDIDATE = 10  # supervisor -> worker: a serialized SnapshotPush (candidate and
    # its selector) to compile and hold; COMMIT serves it beside the active config
    PROMOTE = 11  # supervisor -> worker: the candidate becomes the active config
    DROP_CANDIDATE = 12  # supervisor -> worker: stop serving the candidate


class ChannelClosed(ConnectionError):
    """The other end of the channel is gone."""


class Channel:
    """Frames over one end of a socketpair, on the running event loop."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    @classmethod
    async def open(cls, sock: socket.socket) -> Channel:
        reader, writer = await asyncio.open_unix_connection(sock=sock, limit=MAX_FRAME)
        return cls(reader, writer)

    async def send(self, kind: Kind, request_id: int, payload: bytes = b"") -> None:
        if self._writer.is_closing():
            raise ChannelClosed("the control channel is closed")
        self._writer.write(_HEADER.pack(len(payload), request_id, kind) + payload)
        try:
            await self._writer.drain()
        except (ConnectionError, RuntimeError) as exc:
            raise ChannelClosed(str(exc)) from exc

    async def receive(self) -> tuple[Kind, int, bytes]:
        """The next frame; raises ChannelClosed at EOF."""
        try:
            header = await self._reader.readexactly(_HEADER.size)
            length, request_id, kind = _HEADER.unpack(header)
            if length > MAX_FRAME:
                raise ChannelClosed(f"a frame of {length} bytes is too large")
            payload = await self._reader.readexactly(length)
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            raise ChannelClosed("the control channel was closed") from exc
        return Kind(kind), request_id, payload

    def close(self) -> None:
        with contextlib.suppress(RuntimeError):  # the loop may already be closing
            self._writer.close()
