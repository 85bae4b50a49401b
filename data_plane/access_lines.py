"""The access log's lines: a batch of held requests in, their JSON lines out as bytes.

Written once, compiled twice, as data_plane/http/heads.py is: this file is plain Python
and is the pure-Python twin; setup.py has Cython compile it into `access_lines_c`,
typed by `access_lines_c.pxd`, and data_plane/extensions.py picks one
(FLEETGATE_NO_EXTENSIONS=1: the pure one). data_plane/access_log.py holds the requests
and writes what this makes.

A line is the timestamp's second, then the line template with the request's values;
route, service and target come encoded once for a run of requests with the same plan
and target, the tail (consumer to detail) once per config version and side when there
is no consumer and no error. Text from the client (method, path, host) is escaped only
when it holds a byte JSON cannot carry as it is, found by one search over the whole
batch; the rest (ids, names, addresses, numbers) is plain by construction.

Only the writing of one line is spelled twice, behind `cython.compiled`. The pure twin
formats it with one bytes `%` (C speed in CPython, but every number goes through a
str: ~0.6 us a line). The compiled twin copies the template's pieces and the values
into one buffer for the batch and writes the numbers itself: integers digit by digit,
the milliseconds (`%.3f`) rounded exactly as CPython rounds them (to nearest, ties to
even, on the double's exact value: decided with `fma`, which computes `x * 1000 - c`
with one rounding), and anything out of the plain range (a huge number, a negative
one, a NaN) handed to the same `%` as the pure twin. The template's literal pieces
are cut out of the pure twin's template, so both write the same text. The property
test (tests/data_plane/test_access_lines.py) holds the two to the same bytes for any
batch. Every copy into the buffer checks its room first; nothing releases the GIL.
"""

from __future__ import annotations

import json
import re
import time
from operator import itemgetter
from typing import Any

try:
    import cython
except ImportError:  # Cython is only needed to build the compiled twin
    from data_plane import uncompiled as cython

if cython.compiled:
    from cython.cimports.cpython.bytearray import PyByteArray_AS_STRING, PyByteArray_Resize
    from cython.cimports.cpython.bytes import PyBytes_AS_STRING, PyBytes_FromStringAndSize
    from cython.cimports.libc.math import fabs, fma, nearbyint, signbit
    from cython.cimports.libc.string import memcpy

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
# The compiled twin writes the template's literal text between the values: these.
(
    _P0, _P_MS, _P_REQUEST_ID, _P_CLIENT, _P_METHOD, _P_PATH, _P_HOST, _P_NAMES,
    _P_STATUS, _P_BYTES_IN, _P_BYTES_OUT, _P_DURATION, _P_UPSTREAM, _P_TAIL, _P_END,
) = re.split(rb"%(?:s|03d|d|\.3f)", _LINE)  # fmt: skip
_NAMES = b'"route":%s,"service":%s,"target":%s'
_NO_NAMES = _NAMES % (b"null", b"null", b"null")
_TAIL = b'"consumer":%s,"tenant":%s,"config":"%s","version":%d,"error":%s,"detail":%s'
_SIDES = (b"active", b"candidate")
_NULL = b"null"
_QUESTION = ord("?")
# The compiled twin writes these numbers itself; others go through `%`.
_MAX_INT = 10**18
_MAX_MS = 1e12  # milliseconds below this: x * 1000 rounds to an integer below 2**50

# The client's text in a record (see `AccessLog.exchange`), and the bytes it may hold
# as they are in a JSON string.
_METHOD, _PATH, _HOST = itemgetter(3), itemgetter(4), itemgetter(5)
_PLAIN_BYTES = bytes(c for c in range(0x20, 0x7F) if c not in b'"\\')

# Route, service, target, consumer and tenant names as JSON: a few per config, bounded.
_STRINGS: dict[str, bytes] = {}
_STRINGS_SIZE = 4096
_TAILS_SIZE = 16  # versions a worker serves at once: an active one and a candidate


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


def tail(call: Any, side: int, version: int, error: Any) -> bytes:
    """A line's fields from consumer to detail; `error`: a ProxyError or None."""
    return _TAIL % (
        _NULL if call is None else string(call.consumer),
        _NULL if call is None else string(call.tenant),
        _SIDES[side],
        version,
        _NULL if error is None else string(error.code),
        _NULL if error is None else string(error.detail or error.message),
    )


class Lines:
    """What a worker's batches of lines share: the current second, the config tails,
    and (compiled twin) the buffer a batch is written into."""

    def __init__(self) -> None:
        self._second = -1
        self._stamp = b""
        # The tail of a line without consumer and error, by version * 2 + side
        self._tails: dict[int, bytes] = {}
        self._out = bytearray()  # the compiled twin's lines of one batch
        self._used = 0

    def make(self, records: list[tuple[Any, ...]], clock: float) -> bytes:
        """The lines of `records`, each as `AccessLog.exchange` holds a request;
        `clock`: what to add to a record's perf_counter() time to get the wall clock's."""
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
        names = _NO_NAMES
        lines = []
        self._used = 0
        for (
            ended, request_id, client, method, path, host, plan, target, status,
            bytes_in, bytes_out, duration, upstream, call, version, side, error,
        ) in records:  # fmt: skip
            now = ended + clock
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
                line_tail = tails.get(version * 2 + side)
                if line_tail is None:
                    if len(tails) >= _TAILS_SIZE:
                        tails.clear()
                    line_tail = tails[version * 2 + side] = tail(None, side, version, None)
            else:
                line_tail = tail(call, side, version, error)
            if cython.compiled:
                self._put(stamp)
                self._put(_P_MS)
                elapsed = (now - second) * 1000
                if 0 <= elapsed < 1000:
                    self._put_digits(cython.cast(cython.longlong, elapsed), 3)
                else:  # a clock before 1970: as `%` does
                    self._put(b"%03d" % elapsed)
                self._put(_P_REQUEST_ID)
                self._put(request_id)
                self._put(_P_CLIENT)
                self._put(client)
                self._put(_P_METHOD)
                self._put(method)
                self._put(_P_PATH)
                self._put(path)
                self._put(_P_HOST)
                self._put(host)
                self._put(_P_NAMES)
                self._put(names)
                self._put(_P_STATUS)
                self._put_int(status, 1)
                self._put(_P_BYTES_IN)
                self._put_int(bytes_in, 1)
                self._put(_P_BYTES_OUT)
                self._put_int(bytes_out, 1)
                self._put(_P_DURATION)
                self._put_ms(duration * 1000)
                self._put(_P_UPSTREAM)
                if upstream < 0:
                    self._put(_NULL)
                else:
                    self._put_ms(upstream * 1000)
                self._put(_P_TAIL)
                self._put(line_tail)
                self._put(_P_END)
            elif upstream < 0:
                lines.append(_LINE_NO_UPSTREAM % (
                    stamp, (now - second) * 1000, request_id, client, method, path, host,
                    names, status, bytes_in, bytes_out, duration * 1000, line_tail,
                ))  # fmt: skip
            else:
                lines.append(_LINE % (
                    stamp, (now - second) * 1000, request_id, client, method, path, host,
                    names, status, bytes_in, bytes_out, duration * 1000, upstream * 1000,
                    line_tail,
                ))  # fmt: skip
        self._second, self._stamp = second, stamp
        if cython.compiled:
            data: bytes = PyBytes_FromStringAndSize(PyByteArray_AS_STRING(self._out), self._used)
            self._used = 0
            if len(self._out) > 1 << 20:  # a batch of huge lines: not kept for the next
                self._out = bytearray()
            return data
        return b"".join(lines)

    # ------------------------------------------------------------ the compiled twin's writing

    def _room(self, size: int) -> None:
        """Make room for `size` more bytes in the buffer."""
        if len(self._out) - self._used < size:
            PyByteArray_Resize(self._out, max(2 * len(self._out), self._used + size, 4096))

    def _put(self, piece: bytes) -> None:
        """Copy `piece` into the buffer (`b"%s" % piece`)."""
        size = len(piece)
        self._room(size)
        memcpy(PyByteArray_AS_STRING(self._out) + self._used, PyBytes_AS_STRING(piece), size)
        self._used += size

    def _put_int(self, value: Any, width: int) -> None:
        """Write `value` as `%0<width>d` does."""
        if type(value) is int:
            try:
                number = value  # a C integer
            except OverflowError:
                number = -1
            if 0 <= number < _MAX_INT:
                self._put_digits(number, width)
            else:  # negative or huge: as `%` does
                self._put(b"%0*d" % (width, value))
        else:  # not an int: as `%` does
            self._put(b"%0*d" % (width, value))

    def _put_digits(self, number: int, width: int) -> None:
        """Write `number` (0 <= number < _MAX_INT) in decimal, zero-padded to `width`."""
        digits = 1
        scale = 10
        while scale <= number:
            digits += 1
            scale *= 10
        if digits < width:
            digits = width
        self._room(digits)
        out = PyByteArray_AS_STRING(self._out) + self._used
        i = digits - 1
        while i >= 0:
            out[i] = 48 + number % 10
            number //= 10
            i -= 1
        self._used += digits

    def _put_ms(self, value: float) -> None:
        """Write `value` as `%.3f` does (CPython: correctly rounded, ties to even)."""
        magnitude = fabs(value)
        if magnitude < _MAX_MS:
            # `thousandths`: magnitude * 1000 rounded (ties to even), then corrected by
            # one where the rounding of the product moved it across a half: fma computes
            # `magnitude * 1000 - c` with one rounding, so its sign is the exact one. An
            # exact half needs no correction: it is the product itself, unrounded.
            thousandths = nearbyint(magnitude * 1000.0)
            if fma(magnitude, 1000.0, -(thousandths + 0.5)) > 0:
                thousandths += 1
            elif fma(magnitude, 1000.0, -(thousandths - 0.5)) < 0:
                thousandths -= 1
            whole = cython.cast(cython.longlong, thousandths)
            if signbit(value):
                self._put(b"-")
            self._put_digits(whole // 1000, 1)
            self._put(b".")
            self._put_digits(whole % 1000, 3)
        else:  # huge, infinite or NaN: as `%` does
            self._put(b"%.3f" % value)
