"""A service's bulkhead: its `max_concurrent_requests` per node, with priority shedding.

Requests in flight to a service are counted for the whole node (counters.py, one column
per worker). At the cap every request is refused, 503 `service_overloaded`. Below it, a
tier's `priority` decides how much of the cap its requests may fill, so that lower
priorities are shed first, 503 `overloaded` with Retry-After, and a FREE flood cannot
starve PRO: with the snapshot's distinct priorities ranked from the lowest (rank 0)
to the highest (rank n-1), requests of rank r may fill `0.5 + 0.5 * r / (n - 1)` of the
cap, so the lowest gets half of it and the highest all of it. Requests of no tier rank
with priority 0. A snapshot whose tiers all have one priority sheds nobody early.
"""

from __future__ import annotations

from fleetgate_pb import config_pb2 as pb

from data_plane.http.errors import Overloaded, ProxyError, ServiceOverloaded

from .counters import SharedCounters
from .table import key_hash

RETRY_AFTER = ((b"Retry-After", b"1"),)
LOWEST_SHARE = 0.5


class Priorities:
    """The share of a service's cap each tier's requests may fill, by tier name."""

    __slots__ = ("shares", "untiered")

    def __init__(self, snapshot: pb.Snapshot | None) -> None:
        tiers = [] if snapshot is None else list(snapshot.tiers)
        levels = sorted({0, *(tier.priority for tier in tiers)})
        top = len(levels) - 1

        def share(priority: int) -> float:
            if not top:
                return 1.0
            return LOWEST_SHARE + (1 - LOWEST_SHARE) * levels.index(priority) / top

        self.shares = {tier.name: share(tier.priority) for tier in tiers}
        self.untiered = share(0)

    def of(self, tier: str | None) -> float:
        return self.untiered if tier is None else self.shares.get(tier, self.untiered)

    def __repr__(self) -> str:
        return f"<Priorities {self.shares} untiered={self.untiered}>"


class Bulkhead:
    """One service's cap on requests in flight on this node."""

    __slots__ = ("cap", "inflight", "key", "name")

    def __init__(self, name: str, cap: int, inflight: SharedCounters) -> None:
        self.name = name
        self.cap = cap
        self.inflight = inflight
        self.key = key_hash(f"inflight|service|{name}")

    def enter(self, share: float) -> ProxyError | None:
        """Count one more request in flight, or refuse it (nothing counted)."""
        before = self.inflight.add(self.key, 1, self.cap)
        if before < 0:
            return ServiceOverloaded(
                f"service {self.name} has {self.cap} requests in flight on this node",
                headers=RETRY_AFTER,
            )
        if share < 1.0 and before >= self.cap * share:
            self.inflight.add(self.key, -1)
            return Overloaded(
                f"service {self.name} is busy: requests of higher priority go first",
                headers=RETRY_AFTER,
            )
        return None

    def leave(self) -> None:
        self.inflight.add(self.key, -1)

    def __repr__(self) -> str:
        return f"<Bulkhead {self.name} cap={self.cap}>"
