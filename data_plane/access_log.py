"""The node's access log: one JSON line per request, buffered per worker.

A request costs one tuple of values it already has, appended to a list; the lines are
formatted in batches, one `%` per line into bytes from pieces encoded once (route,
service and target names, the config's tail, the second's timestamp), and written once
64 KiB are held, at the worker's once-a-second tick, or when the worker stops. Text from
the client (method, path, host) is escaped only when it holds a byte JSON cannot carry
as it is, found by one search over the whole batch; the rest (ids, names, addresses,
numbers) is plain by construction. `reopen` closes and opens the file again, for log
rotation (the node's supervisor asks every worker on SIGUSR1).

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
from operator import itemgetter
from typing import TYPE_CHECKING, Any

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

# Bytes a JSON string cannot hold as they are: quote, backslash, controls, non-ASCII.
_UNSAFE = re.compile(rb'["\\\x00-\x1f\x7f-\xff]')

# A line is the timestamp's second, then one of these two shapes (with and without an
# upstream time); the names (route, service, target) and the tail (consumer to detail)
# come encoded. The milliseconds are a float: `%d` truncates it as int() would.
_LINE = (
    b'%s.%03dZ","request_id":"%s","client":"%s","method":"%s","path":"%s","host":"%s",'
    b'%s,"status":%d,"bytes_in":%d,"bytes_out":%d,'
    b'"duration_ms":%.3f,"upstream_ms":%.3f,%s}\n'
)
_LINE_NO_UPSTREAM = _LINE.replace(b'"upstream_ms":%.3f', b'"upstream_ms":null')
_NAMES = b'"route":%s,"service":%s,"target":%s'
_TAIL = b'"consumer":%s,"tenant":%s,"config":"%s","version":%d,"error":%s,"detail":%s'
_SIDES = (b"active", b"candidate")
_NULL = b"null"
_QUESTION = ord("?")

# The client's text in a record (see `AccessLog.exchange`), and the bytes it may hold
# as they are in a JSON string.
_METHOD, _PATH, _HOST = itemgetter(3), itemgetter(4), itemgetter(5)
_PLAIN_BYTES = bytes(c for c in range(0x20, 0x7F) if c not in b'"\\')


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
_TAILS_SIZE = 16  # versions a worker serves at once: an active one and a candidate


class AccessLog:
    """The access log of one worker: requests held, lines formatted, the file they go to."""

    __slots__ = (
        "_fd",
        "_pieces",
        "_second",
        "_stamp",
        "_tails",
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
        self._second = -1
        self._stamp = b""
        # The tail of a line without consumer and error, by version * 2 + side
        self._tails: dict[int, bytes] = {}

    # ------------------------------------------------------------ requests

    def exchange(
        self, exchange: Exchange, target: Upstream | None, status: int, duration: float
    ) -> None:
        """Hold the line of one request the proxy handled (answered, or given up);
        `target`: the one its last try went to."""
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
            time.time(), exchange.request_id, exchange.conn.client_bytes,
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
            time.time(), request_id, client, b"", b"", b"",
            None, None, error.status, 0, 0, 0.0, -1.0, None, version, 0, error,
        ))  # fmt: skip
        if len(self.records) >= BATCH:
            self._format()

    # ------------------------------------------------------------ lines

    def _format(self) -> None:
        """Make the lines of the held requests; write them once 64 KiB are held."""
        records, self.records = self.records, []
        # One look at all the client's text of the batch: escape line by line only when
        # something in it needs it (rare: the parser refuses most such bytes).
        plain = not b"".join(
            [*map(_METHOD, records), *map(_PATH, records), *map(_HOST, records)]
        ).translate(None, _PLAIN_BYTES)
        tails = self._tails
        second, stamp = self._second, self._stamp
        # Requests in a row mostly share their route and target: encoded once for them.
        last_plan: Any = None
        last_target: Any = None
        names = b'"route":null,"service":null,"target":null'
        lines = []
        for (
            now, request_id, client, method, path, host, plan, target, status,
            bytes_in, bytes_out, duration, upstream, call, version, side, error,
        ) in records:  # fmt: skip
            if int(now) != second:
                second = int(now)
                stamp = (
                    b'{"ts":"%s' % time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)).encode()
                )
            if _QUESTION in path:  # an int: `b"?" in` costs six times as much
                path = path.partition(b"?")[0]  # the query may carry credentials: not logged
            if not plain:
                method, path, host = text(method), text(path), text(host)
            if plan is not last_plan or target is not last_target:
                last_plan, last_target = plan, target
                names = _NAMES % (
                    _NULL if plan is None else string(plan.name),
                    _NULL if plan is None else string(plan.service.name),
                    _NULL if target is None else string(target.address),
                )
            if error is None and (call is None or (call.consumer is None and call.tenant is None)):
                tail = tails.get(version * 2 + side)
                if tail is None:
                    if len(tails) >= _TAILS_SIZE:
                        tails.clear()
                    tail = tails[version * 2 + side] = _tail(None, side, version, None)
            else:
                tail = _tail(call, side, version, error)
            if upstream < 0:
                lines.append(_LINE_NO_UPSTREAM % (
                    stamp, (now - second) * 1000, request_id, client, method, path, host,
                    names, status, bytes_in, bytes_out, duration * 1000, tail,
                ))  # fmt: skip
            else:
                lines.append(_LINE % (
                    stamp, (now - second) * 1000, request_id, client, method, path, host,
                    names, status, bytes_in, bytes_out, duration * 1000, upstream * 1000, tail,
                ))  # fmt: skip
        self._second, self._stamp = second, stamp
        data = b"".join(lines)
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
        return (
            f"<AccessLog {self.path} requests={len(self.records)} held={self.held}"
            f" batches={len(self.lines)}>"
        )


def _tail(call: Any, side: int, version: int, error: ProxyError | None) -> bytes:
    """A line's fields from consumer to detail."""
    return _TAIL % (
        _NULL if call is None else string(call.consumer),
        _NULL if call is None else string(call.tenant),
        _SIDES[side],
        version,
        _NULL if error is None else string(error.code),
        _NULL if error is None else string(error.detail or error.message),
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
