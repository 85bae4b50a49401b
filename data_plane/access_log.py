"""The node's access log: one JSON line per request, buffered per worker.

A request costs one tuple of values it already has, appended to a list; the lines are
made 64 requests at a time by data_plane/access_lines.py (compiled, or its pure-Python
twin: the same bytes), and written once 64 KiB are held, at the worker's once-a-second
tick, or when the worker stops. `reopen` closes and opens the file again, for log
rotation (the node's supervisor asks every worker on SIGUSR1).

Several workers share the destination: a file is opened with O_APPEND and every flush
is one write (a writev of the batches) of whole lines, so lines never interleave; a
pipe or socket (stdout under a supervisor or journald) is written in pieces of at most
PIPE_BUF bytes, cut at line ends, which the kernel keeps whole.
"""

from __future__ import annotations

import logging
import os
import stat
import time
from time import perf_counter
from typing import TYPE_CHECKING, Any

from data_plane.extensions import is_compiled, load

if TYPE_CHECKING:
    from data_plane.balancing import Upstream
    from data_plane.http.errors import ProxyError
    from data_plane.http.exchange import Exchange

log = logging.getLogger("fleetgate.worker")
OFF = "off"
STDOUT = "-"
FLUSH_BYTES = 64 * 1024
BATCH = 64  # requests held before their lines are formatted
_PIPE_BUF = 4096  # select.PIPE_BUF on Linux: writes up to this size are never interleaved
_IOV_MAX = 1024  # pieces a writev takes on Linux

# The lines are made by the compiled twin of data_plane/access_lines.py when it is built.
_lines = load("data_plane.access_lines")
COMPILED = is_compiled(_lines)
text = _lines.text  # the client's text as the inside of a JSON string


class AccessLog:
    """The access log of one worker: requests held, lines formatted, the file they go to."""

    __slots__ = (
        "_fd",
        "_lines",
        "_pieces",
        "held",
        "lines",
        "path",
        "records",
    )

    def __init__(self, path: str) -> None:
        """`path`: a file to append to, or "-" for standard output; raises OSError."""
        self.path = path
        self.records: list[tuple[Any, ...]] = []  # requests whose lines are not made yet
        self.lines: list[bytes] = []  # formatted batches
        self.held = 0  # bytes in `lines`
        # 0: a flush is written at once (a file); else in pieces of at most this many bytes
        self._fd, self._pieces = _open(path)
        self._lines = _lines.Lines()

    # ------------------------------------------------------------ requests

    def exchange(
        self, exchange: Exchange, target: Upstream | None, status: int, duration: float
    ) -> None:
        """Hold the line of one request the proxy handled (answered, or given up);
        `target`: the one its last try went to; `duration`: since `exchange.began`."""
        head = exchange.head
        state = exchange.conn.state
        side = exchange.side
        candidate = state.candidate
        if side and candidate is not None:
            version = candidate.config.version
        else:
            config = state.config
            version, side = 0 if config is None else config.version, 0
        records = self.records
        records.append((
            exchange.began + duration, exchange.request_id, exchange.conn.client_bytes,
            head.method, head.target, head.host,
            exchange.plan, target or exchange.failed, status, exchange.body_bytes,
            exchange.bytes_out, duration, exchange.upstream_time, exchange.call,
            version, side, exchange.error,
        ))  # fmt: skip
        if len(records) >= BATCH:
            self._format()

    def refusal(self, request_id: bytes, client: bytes, error: ProxyError, version: int) -> None:
        """Hold the line of a request refused before it could be read whole (bad framing)."""
        self.records.append((
            perf_counter(), request_id, client, b"", b"", b"",
            None, None, error.status, 0, 0, 0.0, -1.0, None, version, 0, error,
        ))  # fmt: skip
        if len(self.records) >= BATCH:
            self._format()

    # ------------------------------------------------------------ lines

    def _format(self) -> None:
        """Make the lines of the held requests; write them once 64 KiB are held."""
        records, self.records = self.records, []
        # A request's time is its end on the perf_counter() clock (the exchange's own, so
        # no clock is read for a request); the wall clock's is that plus this, read once
        # for the batch (the lines of a second at most).
        data = self._lines.make(records, time.time() - perf_counter())
        self.lines.append(data)
        self.held += len(data)
        if self.held >= FLUSH_BYTES:
            self._write()

    # ------------------------------------------------------------ writing

    def flush(self) -> None:
        """Write every held line; a destination that fails loses them, not the worker."""
        if self.records:
            self._format()
        self._write()

    def _write(self) -> None:
        if not self.lines:
            return
        batches, held = self.lines, self.held
        self.lines = []
        self.held = 0
        try:
            if not self._pieces:
                # A file: the batches in one writev, not joined first; the kernel appends
                # them at once, as one write. Whatever it did not take goes after.
                written = os.writev(self._fd, batches) if len(batches) <= _IOV_MAX else 0
                if written < held:
                    _write_all(self._fd, b"".join(batches)[written:])
                return
            data = b"".join(batches)
            start = 0
            while start < len(data):
                end = start + self._pieces
                if end < len(data):
                    cut = data.rfind(b"\n", start, end)
                    end = cut + 1 if cut >= start else data.find(b"\n", end) + 1 or len(data)
                _write_all(self._fd, data[start:end])
                start = end
        except OSError:
            pass  # a full disk or a closed pipe: requests go on, their lines do not

    def reopen(self) -> None:
        """Flush, then open the destination again (a rotated file is created anew).

        When it cannot be opened, the log goes on to the file it had, and says why.
        """
        self.flush()
        try:
            fd, pieces = _open(self.path)
        except OSError as exc:
            log.error("the access log %s cannot be opened again: %s", self.path, exc)
            return
        os.close(self._fd)
        self._fd, self._pieces = fd, pieces

    def close(self) -> None:
        self.flush()
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __repr__(self) -> str:
        return (
            f"<AccessLog {self.path} requests={len(self.records)} held={self.held}"
            f" batches={len(self.lines)}>"
        )


def _open(path: str) -> tuple[int, int]:
    if path == STDOUT:
        fd = os.dup(1)
    else:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
    return fd, 0 if stat.S_ISREG(os.fstat(fd).st_mode) else _PIPE_BUF


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
