"""The node's access log: one JSON line per request, buffered per worker.

A request costs one line formatted with `%` into bytes and appended to a list; nothing
is written until 64 KiB are held, the worker's once-a-second tick comes, or the worker
stops. Text from the client (path, host) is escaped only when it holds a byte JSON
cannot carry as it is; the rest (ids, names, addresses, numbers) is plain by
construction. `reopen` closes and opens the file again, for log rotation (the node's
supervisor asks every worker on SIGUSR1).

Several workers share the destination: a file is opened with O_APPEND and every flush
is one write of whole lines, so lines never interleave; a pipe or socket (stdout under
a supervisor or journald) is written in pieces of at most PIPE_BUF bytes, cut at line
ends, which the kernel keeps whole.
"""

from __future__ import annotations

import json
import logging
import os
import re
import stat
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from data_plane.balancing import Upstream
    from data_plane.http.errors import ProxyError
    from data_plane.http.exchange import Exchange

log = logging.getLogger("fleetgate.worker")
OFF = "off"
STDOUT = "-"
FLUSH_BYTES = 64 * 1024
_PIPE_BUF = 4096  # select.PIPE_BUF on Linux: writes up to this size are never interleaved

# Bytes a JSON string cannot hold as they are: quote, backslash, controls, non-ASCII.
_UNSAFE = re.compile(rb'["\\\x00-\x1f\x7f-\xff]')

_LINE = (
    b'{"ts":"%s.%03dZ","request_id":"%s","client":"%s","method":"%s","path":"%s",'
    b'"host":"%s","route":%s,"service":%s,"target":%s,"status":%d,"bytes_in":%d,'
    b'"bytes_out":%d,"duration_ms":%.3f,"upstream_ms":%s,"consumer":%s,"tenant":%s,'
    b'"config":"%s","version":%d,"error":%s,"detail":%s}\n'
)
_NULL = b"null"


def text(value: bytes) -> bytes:
    """`value` as the inside of a JSON string (escaped only when it must be)."""
    if _UNSAFE.search(value) is None:
        return value
    return json.dumps(value.decode("utf-8", "replace")).encode("ascii")[1:-1]


def string(value: str | None) -> bytes:
    """A JSON string (or null) of `value`; names from the config are encoded once."""
    if value is None:
        return _NULL
    encoded = _STRINGS.get(value)
    if encoded is None:
        if len(_STRINGS) >= _STRINGS_SIZE:
            _STRINGS.clear()
        encoded = _STRINGS[value] = json.dumps(value).encode("ascii")
    return encoded


# Route, service, target, consumer and tenant names as JSON: a few per config, bounded.
_STRINGS: dict[str, bytes] = {}
_STRINGS_SIZE = 4096


class AccessLog:
    """The access log of one worker: a buffer of lines and the file they go to."""

    __slots__ = ("_fd", "_pieces", "_second", "_stamp", "held", "lines", "path")

    def __init__(self, path: str) -> None:
        """`path`: a file to append to, or "-" for standard output; raises OSError."""
        self.path = path
        self.lines: list[bytes] = []
        self.held = 0  # bytes in `lines`
        # 0: a flush is written at once (a file); else in pieces of at most this many bytes
        self._fd, self._pieces = _open(path)
        self._second = -1
        self._stamp = b""

    # ------------------------------------------------------------ lines

    def exchange(
        self, exchange: Exchange, target: Upstream | None, status: int, duration: float
    ) -> None:
        """The line of one request the proxy handled (answered, or given up); `target`:
        the one its last try went to."""
        head = exchange.head
        plan = exchange.plan
        call = exchange.call
        error = exchange.error
        if target is None:
            target = exchange.failed
        state = exchange.conn.state
        config, side = state.config, b"active"
        if exchange.side and state.candidate is not None:
            config, side = state.candidate.config, b"candidate"
        path = head.target
        mark = path.find(b"?")
        if mark >= 0:
            path = path[:mark]  # the query may carry credentials: it is not logged
        upstream = exchange.upstream_time
        self.add(
            exchange.request_id,
            exchange.conn.client_bytes,
            head.method,
            path,
            head.host,
            _NULL if plan is None else string(plan.name),
            _NULL if plan is None else string(plan.service.name),
            _NULL if target is None else string(target.address),
            status,
            exchange.body_bytes,
            exchange.bytes_out,
            duration,
            _NULL if upstream < 0 else b"%.3f" % (upstream * 1000),
            _NULL if call is None else string(call.consumer),
            _NULL if call is None else string(call.tenant),
            0 if config is None else config.version,
            error,
            side,
        )

    def refusal(self, request_id: bytes, client: bytes, error: ProxyError, version: int) -> None:
        """The line of a request refused before it could be read whole (bad framing)."""
        self.add(
            request_id, client, b"", b"", b"", _NULL, _NULL, _NULL,
            error.status, 0, 0, 0.0, _NULL, _NULL, _NULL, version, error,
        )  # fmt: skip

    def add(
        self,
        request_id: bytes,
        client: bytes,
        method: bytes,
        path: bytes,
        host: bytes,
        route: bytes,
        service: bytes,
        target: bytes,
        status: int,
        bytes_in: int,
        bytes_out: int,
        duration: float,
        upstream_ms: bytes,
        consumer: bytes,
        tenant: bytes,
        version: int,
        error: ProxyError | None,
        side: bytes = b"active",
    ) -> None:
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second = second
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)).encode()
        line = _LINE % (
            self._stamp,
            int((now - second) * 1000),
            request_id,
            client,
            text(method),
            text(path),
            text(host),
            route,
            service,
            target,
            status,
            bytes_in,
            bytes_out,
            duration * 1000,
            upstream_ms,
            consumer,
            tenant,
            side,
            version,
            _NULL if error is None else string(error.code),
            _NULL if error is None else string(error.detail or error.message),
        )
        self.lines.append(line)
        self.held += len(line)
        if self.held >= FLUSH_BYTES:
            self.flush()

    # ------------------------------------------------------------ writing

    def flush(self) -> None:
        """Write every held line; a destination that fails loses them, not the worker."""
        if not self.lines:
            return
        data = b"".join(self.lines)
        self.lines = []
        self.held = 0
        try:
            if not self._pieces:
                _write_all(self._fd, data)
                return
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
        return f"<AccessLog {self.path} held={self.held} lines={len(self.lines)}>"


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
