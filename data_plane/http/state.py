"""What every connection of a worker shares: the config served, limits, clock, counters.

`config` is the one reference a swap replaces; an exchange reads it once, when it
starts, and keeps the route plan it got, so in-flight requests finish on the config
they began with. During a blue/green rollout `candidate` holds the candidate config
and its selector, which picks per request (data_plane/candidate.py). `tick` runs once
a second: it refreshes the Date header and the coarse clock, and enforces the timeouts
that need no precision (a slow request head, idle keep-alive connections, idle pooled
upstream connections). Upstream timeouts need more: `check_deadlines` runs ten times a
second over the exchanges waiting on an upstream, so no request arms and cancels a
timer of its own. Retry backoffs (25 to 250 ms) need more still: `wake_later` keeps
them in one heap with one loop timer, armed for the earliest, so a retry storm costs a
heap push per retry, not a task or timer each.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import os
from email.utils import formatdate
from typing import TYPE_CHECKING

from data_plane.metrics import WorkerMetrics
from data_plane.settings import Limits
from data_plane.tracing import Tracing

try:
    import cython
except ImportError:  # Cython is only needed to build the compiled twin
    from data_plane import uncompiled as cython

if cython.compiled:
    from cython.cimports.cpython.bytes import PyBytes_AS_STRING, PyBytes_FromStringAndSize
    from cython.cimports.libc.string import memcpy

if TYPE_CHECKING:
    from data_plane.access_log import AccessLog
    from data_plane.candidate import Candidate
    from data_plane.plan import ServiceRuntime
    from data_plane.runtime import RuntimeConfig

    from .downstream import DownstreamConnection
    from .exchange import Exchange


_HEX = b"0123456789abcdef"


class ProxyState:
    __slots__ = (
        "_ids",
        "_prefix",
        "_sleepers",
        "_sleepers_seq",
        "_timer",
        "_timer_at",
        "access_log",
        "candidate",
        "config",
        "connections",
        "date_line",
        "draining",
        "https_port",
        "limits",
        "loop",
        "metrics",
        "now",
        "tracing",
        "watched",
    )

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        limits: Limits,
        metrics: WorkerMetrics,
        config: RuntimeConfig | None = None,
    ) -> None:
        self.loop = loop
        self.limits = limits
        self.metrics = metrics
        self.config = config
        self.candidate: Candidate | None = None
        self.connections: set[DownstreamConnection] = set()
        self.watched: set[Exchange] = set()  # exchanges with an upstream deadline
        # Exchanges waiting out a retry backoff: (when, order, exchange), earliest first
        self._sleepers: list[tuple[float, int, Exchange]] = []
        self._sleepers_seq = itertools.count()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        self.draining = False  # shutting down: answer in-flight requests, then close
        self.access_log: AccessLog | None = None  # None: off
        self.tracing = Tracing()  # trace context only, until the worker sets export up
        self.https_port = 443  # of the node's HTTPS listener: where https_only sends clients
        # Request ids: a random prefix per worker and a counter, unique without a syscall.
        self._prefix = os.urandom(8).hex().encode()
        self._ids = 0
        self.now = loop.time()
        self.date_line = b""
        self._refresh_date()

    def next_request_id(self) -> bytes:
        """The worker's prefix and the counter in at least 8 lower-case hex digits."""
        self._ids += 1
        if cython.compiled:
            # Written into a new bytes object of the right length, not formatted.
            ids = self._ids
            digits = 8
            while digits < 16 and ids >> (4 * digits):
                digits += 1
            size = len(self._prefix)
            line = PyBytes_FromStringAndSize(cython.NULL, size + digits)
            out = PyBytes_AS_STRING(line)
            memcpy(out, PyBytes_AS_STRING(self._prefix), size)
            i = size + digits - 1
            while i >= size:
                out[i] = _HEX[ids & 15]
                ids >>= 4
                i -= 1
            return line
        return b"%s%08x" % (self._prefix, self._ids)

    def check_deadlines(self) -> None:
        """Ten times a second: the clock, the upstream timeouts that have passed, and
        circuit breakers whose recovery time is over."""
        self.now = now = self.loop.time()
        for exchange in list(self.watched):
            exchange.check_deadlines(now)
        config = self.config
        if config is not None:
            for breakers in config.breakers:
                breakers.tick()

    def wake_later(self, delay: float, exchange: Exchange) -> None:
        """Call `exchange.wake()` in `delay` seconds."""
        when = self.loop.time() + delay
        heapq.heappush(self._sleepers, (when, next(self._sleepers_seq), exchange))
        self._arm(when)

    def _arm(self, when: float) -> None:
        timer = self._timer
        if timer is None or when < self._timer_at:
            if timer is not None:
                timer.cancel()
            self._timer = self.loop.call_at(when, self._wake_due)
            self._timer_at = when

    def _wake_due(self) -> None:
        self._timer = None
        sleepers = self._sleepers
        now = self.loop.time()
        while sleepers and sleepers[0][0] <= now:
            heapq.heappop(sleepers)[2].wake()
        if sleepers:
            self._arm(sleepers[0][0])

    def tick(self) -> None:
        """Once a second: the clock, the Date header, and the coarse timeouts."""
        self.now = now = self.loop.time()
        self._refresh_date()
        for connection in list(self.connections):
            connection.check_timeouts(now)
        for service in self.services():
            service.pool.sweep(now)
            service.retry_budget.roll()

    def services(self) -> list[ServiceRuntime]:
        """The services of the active config and of the candidate, each once."""
        config, candidate = self.config, self.candidate
        services = {} if config is None else {id(s): s for s in config.services.values()}
        if candidate is not None:
            for service in candidate.config.services.values():
                services.setdefault(id(service), service)
        return list(services.values())

    def _refresh_date(self) -> None:
        self.date_line = b"Date: " + formatdate(usegmt=True).encode("ascii") + b"\r\n"

    def __repr__(self) -> str:
        version = None if self.config is None else self.config.version
        candidate = None if self.candidate is None else self.candidate.config.version
        return (
            f"<ProxyState config={version} candidate={candidate}"
            f" connections={len(self.connections)}"
            f" draining={self.draining}>"
        )
