"""The limits' shared memory of one node: created by the supervisor, mapped by its workers.

Three memfds: the key table of the local rate limits (table.py), the requests in flight
by tenant and by service (one column per worker), and the monthly quotas used
(counters.py). The supervisor creates them before any worker starts and hands each
worker the descriptors, with its index (its column of the in-flight counts).
"""

from __future__ import annotations

import time

from .counters import SharedCounters
from .table import KeyTable


class NodeLimits:
    """The supervisor's side: the memfds, and the views its metrics read."""

    def __init__(self, workers: int) -> None:
        self.table_fd = KeyTable.create_shared()
        self.inflight_fd = SharedCounters.create(workers)
        self.quotas_fd = SharedCounters.create(1)
        self.table = KeyTable.open_shared(self.table_fd)
        self.inflight = SharedCounters.open(self.inflight_fd)

    @property
    def fds(self) -> tuple[int, int, int]:
        return (self.table_fd, self.inflight_fd, self.quotas_fd)

    def worker_args(self, index: int) -> tuple[str, ...]:
        """The flags of worker `index` naming its descriptors (see `WorkerLimits`)."""
        return ("--limit-fds", ",".join(str(fd) for fd in self.fds), "--worker-index", str(index))

    def worker_died(self, index: int) -> None:
        """Worker `index` is gone: what it held in flight is no longer held."""
        self.inflight.clear_column(index)

    def samples(self) -> list[tuple[str, float]]:
        return [
            ("fleetgate_rate_limit_keys", self.table.keys_held(time.monotonic_ns())),
            ("fleetgate_rate_limit_evictions_total", self.table.evictions()),
        ]


def open_worker_limits(fds: str, index: int) -> tuple[KeyTable, SharedCounters, SharedCounters]:
    """A worker's views of the node's limits memory, from `--limit-fds` and its index."""
    table_fd, inflight_fd, quotas_fd = (int(fd) for fd in fds.split(","))
    return (
        KeyTable.open_shared(table_fd),
        SharedCounters.open(inflight_fd, index),
        SharedCounters.open(quotas_fd),
    )
