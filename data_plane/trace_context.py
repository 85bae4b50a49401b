"""The W3C trace context a request carries upstream, made once per request.

An incoming valid `traceparent` is continued (its trace id and sampled flag kept, the
gateway's new span id as the parent the upstream sees, `tracestate` passed on when it
is not oversized); a request without one starts a trace. This is the per-request part
of `tracing.py`, apart so that it can be compiled: Cython builds it into
`trace_context_c` (typed by `trace_context_c.pxd`), and data_plane/extensions.py picks
that twin unless `FLEETGATE_NO_EXTENSIONS=1`.

Two things are spelled twice, behind `cython.compiled`: the writing of the line (hex
digits written into a new bytes object for the compiled twin, `%` formatting for the
pure one), and the drawing of the ids: the compiled twin reads them 8 bytes at a time
as C integers from a block of `os.urandom` bytes drawn 4 KiB at a time (two
`getrandbits` calls and the 128-bit Python integer they make were most of what is left
of a request's trace context), the pure one calls `getrandbits`. Either way an id is
random and never 0. A forked child draws a block of its own.
"""

from __future__ import annotations

import os
import re
from random import getrandbits
from typing import TYPE_CHECKING

try:
    import cython
except ImportError:  # Cython is only needed to build the compiled twin
    from data_plane import uncompiled as cython

if cython.compiled:
    from cython.cimports.cpython.bytes import PyBytes_AS_STRING, PyBytes_FromStringAndSize
    from cython.cimports.libc.string import memcpy

if TYPE_CHECKING:
    from data_plane.http.exchange import Exchange

# version 00: trace id, parent span id, flags; lower-case hex (W3C Trace Context, 3.2)
_TRACEPARENT = re.compile(rb"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
_NO_TRACE = b"0" * 32
_NO_SPAN = b"0" * 16
MAX_TRACESTATE = 512  # the spec asks to keep at least 512 characters; more is dropped
# A new trace's line before its ids are written in: sampled (see `start`).
_NEW_TRACE = b"00-" + _NO_TRACE + b"-" + _NO_SPAN + b"-01"
_LENGTH = 55  # of every version 00 traceparent
_SPAN_AT = 36  # where the span id starts
_HEX = b"0123456789abcdef"
_LOW_64 = (1 << 64) - 1
# The compiled twin's random bytes: ids are read from `_random` at `_drawn`, 8 bytes at
# a time, and a new block drawn when it is used up.
_RANDOM_BLOCK = 4096
_random = b""
_drawn = 0


def _forget_random() -> None:
    """In a forked child: draw a block of its own, never the ids its parent sends."""
    global _random, _drawn
    _random = b""
    _drawn = 0


os.register_at_fork(after_in_child=_forget_random)


def _random64() -> int:
    """Compiled twin only: 64 random bits, from the block of `os.urandom` bytes."""
    global _random, _drawn
    if _drawn + 8 > len(_random):
        _random = os.urandom(_RANDOM_BLOCK)
        _drawn = 0
    value = cython.declare(cython.ulonglong)
    memcpy(cython.address(value), PyBytes_AS_STRING(_random) + _drawn, 8)
    _drawn += 8
    return value


def parse_traceparent(value: bytes | None) -> tuple[bytes, bytes, int] | None:
    """(trace id, span id, flags) of a valid `traceparent`, else None."""
    if not value:
        return None
    match = _TRACEPARENT.fullmatch(value)
    if match is None:
        return None
    trace_id, span_id, flags = match.groups()
    if trace_id == _NO_TRACE or span_id == _NO_SPAN:
        return None
    return trace_id, span_id, int(flags, 16)


def valid(traceparent: bytes) -> bool:
    """Whether `traceparent` is a valid version 00 line: `parse_traceparent` would take it."""
    if cython.compiled:
        if len(traceparent) != _LENGTH or traceparent[52] != 45:  # "-"
            return False
        if traceparent[0] != 48 or traceparent[1] != 48 or traceparent[2] != 45:  # "00-"
            return False
        return (
            _hex_digits(traceparent, 3, 35)
            and traceparent[35] == 45
            and _hex_digits(traceparent, _SPAN_AT, 52)
            and _hex_digits(traceparent, 53, 55)
        )
    return parse_traceparent(traceparent) is not None


def start(exchange: Exchange) -> None:
    """Set the exchange's `traceparent` and `tracestate` for its upstream."""
    head = exchange.head
    incoming = head.traceparent
    if cython.compiled:  # noqa: SIM108 (a C integer: the ternary's other arm is an object)
        span_id = _random64() or 1
    else:
        span_id = getrandbits(64) or 1
    if incoming and valid(incoming):
        # The incoming line with the gateway's span id in place of its parent's: the
        # same trace id and flags.
        exchange.traceparent = with_span(incoming, span_id)
        tracestate = head.tracestate
        exchange.tracestate = (
            tracestate if tracestate is None or len(tracestate) <= MAX_TRACESTATE else None
        )
        return
    # A new trace is marked sampled: the upstream's own sampler is not overruled into
    # dropping it because the gateway records nothing.
    if cython.compiled:
        high = _random64()
        low = _random64()
        if not high and not low:
            low = 1
        exchange.traceparent = new_trace(high, low, span_id)
    else:
        trace_id = getrandbits(128) or 1
        exchange.traceparent = new_trace(trace_id >> 64, trace_id & _LOW_64, span_id)
    exchange.tracestate = None


def new_trace(high: int, low: int, span_id: int) -> bytes:
    """The sampled traceparent of trace id `high` `low` (64 bits each), span `span_id`."""
    if cython.compiled:
        line = PyBytes_FromStringAndSize(PyBytes_AS_STRING(_NEW_TRACE), _LENGTH)
        out = PyBytes_AS_STRING(line)
        _write_hex(out, 3, high)
        _write_hex(out, 19, low)
        _write_hex(out, _SPAN_AT, span_id)
        return line
    return b"00-%016x%016x-%016x-01" % (high, low, span_id)


def with_span(traceparent: bytes, span_id: int) -> bytes:
    """A valid version 00 `traceparent` with its span id replaced by `span_id`."""
    if len(traceparent) != _LENGTH:
        raise ValueError("not a version 00 traceparent")
    if cython.compiled:
        line = PyBytes_FromStringAndSize(PyBytes_AS_STRING(traceparent), _LENGTH)
        _write_hex(PyBytes_AS_STRING(line), _SPAN_AT, span_id)
        return line
    return b"%s%016x%s" % (traceparent[:_SPAN_AT], span_id, traceparent[_SPAN_AT + 16 :])


def _hex_digits(data: bytes, start: int, end: int) -> bool:
    """Compiled twin only: data[start:end] is lower-case hex digits, not all of them 0
    unless it is the flags' two."""
    zeros = True
    i = start
    while i < end:
        byte = data[i]
        if byte != 48:
            zeros = False
            if not (48 < byte <= 57 or 97 <= byte <= 102):
                return False
        i += 1
    return not zeros or end - start == 2


def _write_hex(out: bytes, at: int, value: int) -> None:
    """Compiled twin only: `value` as 16 lower-case hex digits into the new bytes `out`
    at `at` (its caller made `out` long enough)."""
    i = at + 15
    while i >= at:
        out[i] = _HEX[value & 15]  # type: ignore[index]
        value >>= 4
        i -= 1
