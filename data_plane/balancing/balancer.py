"""What every load balancer offers the proxy, and the health bookkeeping they share."""

from __future__ import annotations

from typing import Protocol

from .upstream import Upstream


class Balancer(Protocol):
    """Picks the target of a service for each request (and each retry)."""

    targets: list[Upstream]

    def pick(self, key: str | None = None, exclude: Upstream | None = None) -> Upstream | None:
        """A healthy target, or None when there is none (the proxy answers 503).

        `key` is the hash key (client IP, header or cookie value) of consistent
        hashing, ignored by the other algorithms; `exclude` is a target just tried,
        avoided when another healthy target exists.
        """
        ...

    def observe(self, target: Upstream, latency: float) -> None:
        """Record the latency of a response from `target`, in seconds."""
        ...

    def set_healthy(self, target: Upstream, healthy: bool) -> None:
        """Mark `target` up or down; a down target is never picked."""
        ...

    def refresh(self) -> None:
        """A target's `tripped` changed: pick from the targets that may be picked now."""
        ...


class BalancerBase:
    """Keeps `live`, the targets an algorithm may pick: healthy, not held off by their
    circuit breaker, and with weight > 0.

    Health changes are rare next to picks, so each algorithm rebuilds whatever it
    derives from `live` in `rebuild()` rather than filtering on every pick.
    """

    __slots__ = ("live", "targets")

    def __init__(self, targets: list[Upstream]) -> None:
        self.targets = targets
        self.live: list[Upstream] = []
        self._update()

    def set_healthy(self, target: Upstream, healthy: bool) -> None:
        if target.healthy is not healthy:
            target.healthy = healthy
            self._update()

    def refresh(self) -> None:
        self._update()

    def observe(self, target: Upstream, latency: float) -> None:
        """Only latency-aware algorithms use observations."""

    def rebuild(self) -> None:
        """Recompute the algorithm's state after `live` changed."""

    def _update(self) -> None:
        self.live = [t for t in self.targets if t.healthy and not t.tripped and t.weight > 0]
        self.rebuild()

    def __repr__(self) -> str:
        shown = ", ".join(f"{t.address} w={t.weight} active={t.active}" for t in self.live[:8])
        more = ", ..." if len(self.live) > 8 else ""
        return f"<{type(self).__name__} live={len(self.live)}/{len(self.targets)} [{shown}{more}]>"
