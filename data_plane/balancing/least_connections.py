"""Least connections: the target with the fewest requests in flight for its weight."""

from __future__ import annotations

from .balancer import BalancerBase
from .upstream import Upstream


class LeastConnections(BalancerBase):
    """Lowest (active + 1) / weight wins; the scan starts one further on each pick, so
    equal targets take turns instead of the first one always winning ties."""

    __slots__ = ("_start",)

    def __init__(self, targets: list[Upstream]) -> None:
        self._start = 0
        super().__init__(targets)

    def pick(self, key: str | None = None, exclude: Upstream | None = None) -> Upstream | None:
        live = self.live
        count = len(live)
        if not count:
            return None
        if count < 2:
            exclude = None
        start = self._start % count
        self._start = start + 1
        best: Upstream | None = None
        for offset in range(count):
            target = live[(start + offset) % count]
            if target is exclude:
                continue
            # (a + 1) / w < (b + 1) / v, without division.
            if (
                best is None
                or (target.active + 1) * best.weight < (best.active + 1) * target.weight
            ):
                best = target
        return best
