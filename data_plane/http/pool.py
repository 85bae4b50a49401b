"""Idle keep-alive connections to one service's targets, kept per worker.

Like httpcore's pool, it decides without awaiting and leaves the I/O to its callers:
`acquire` hands out the most recently used idle connection of a target (the one
least likely to have been closed by the upstream), or None and the exchange opens a
new one. At most `max_idle` connections wait per target; those idle longer than
`idle_timeout` (shorter than the upstreams' own) are closed by `sweep`, once a second.
A connection that leaves the pool for good (closed, or unexpected bytes) is dropped
with `forget`. A pool whose service changed is retired: its idle connections close
now, busy ones when their exchange ends.
"""

from __future__ import annotations

try:
    import cython
except ImportError:  # Cython is only needed to build the compiled twin
    from data_plane import uncompiled as cython

from data_plane.metrics import ServiceCounters, TargetCounters

if not cython.compiled:  # compiled, pool_c.pxd cimports the compiled twin's class
    from .upstream import UpstreamConnection


class ServicePool:
    """Idle upstream connections of one service, a stack per target."""

    __slots__ = ("_idle", "counters", "idle_timeout", "max_idle", "retired", "targets")

    def __init__(
        self,
        counters: ServiceCounters,
        targets: tuple[TargetCounters, ...],
        *,
        max_idle: int,
        idle_timeout: float,
    ) -> None:
        self._idle: list[list[UpstreamConnection]] = [[] for _ in targets]
        self.counters = counters
        self.targets = targets  # by target index
        self.max_idle = max_idle
        self.idle_timeout = idle_timeout
        self.retired = False

    def acquire(self, target: int) -> UpstreamConnection | None:
        stack = self._idle[target]
        while stack:
            connection = stack.pop()
            self.counters.idle -= 1
            if not connection.transport.is_closing():
                return connection
        return None

    def release(self, connection: UpstreamConnection, now: float) -> None:
        """Take back a connection whose exchange ended cleanly, or close it."""
        stack = self._idle[connection.target]
        if (
            self.retired
            or connection.out_of_step
            or len(stack) >= self.max_idle
            or connection.transport.is_closing()
        ):
            connection.close()
            return
        connection.make_idle(now)
        stack.append(connection)
        self.counters.idle += 1

    def forget(self, connection: UpstreamConnection) -> None:
        stack = self._idle[connection.target]
        if connection in stack:
            stack.remove(connection)
            self.counters.idle -= 1

    def sweep(self, now: float) -> None:
        deadline = now - self.idle_timeout
        for stack in self._idle:
            # The stack is ordered by release time: the stale ones are at the bottom.
            while stack and stack[0].idle_since <= deadline:
                self.counters.idle -= 1
                stack.pop(0).close()

    def retire(self) -> None:
        self.retired = True
        for stack in self._idle:
            while stack:
                self.counters.idle -= 1
                stack.pop().close()

    @property
    def idle(self) -> int:
        return sum(len(stack) for stack in self._idle)

    def __repr__(self) -> str:
        state = " retired" if self.retired else ""
        return f"<ServicePool {self.counters.name} idle={[len(s) for s in self._idle]}{state}>"
