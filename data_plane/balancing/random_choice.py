"""Weighted random choice: each pick independent, in proportion to the weights."""

from __future__ import annotations

import random
from bisect import bisect_right
from itertools import accumulate

from .balancer import BalancerBase
from .upstream import Upstream


class WeightedDraw:
    """Draws one of `targets` with probability weight / total, optionally skipping one."""

    __slots__ = ("_bounds", "_position", "_rng", "_total", "targets")

    def __init__(self, targets: list[Upstream], rng: random.Random) -> None:
        self.targets = targets
        self._bounds = list(accumulate(t.weight for t in targets))
        self._total = self._bounds[-1] if targets else 0
        self._position = {t: i for i, t in enumerate(targets)}
        self._rng = rng

    def one(self, exclude: Upstream | None = None) -> Upstream | None:
        targets = self.targets
        if not targets:
            return None
        skipped = self._position.get(exclude) if exclude is not None else None
        if skipped is None or len(targets) < 2:
            return targets[bisect_right(self._bounds, self._rng.random() * self._total)]
        # Draw over the other targets' share of the line, then step over the skipped one.
        weight = targets[skipped].weight
        start = self._bounds[skipped] - weight
        point = self._rng.random() * (self._total - weight)
        if point >= start:
            point += weight
        return targets[bisect_right(self._bounds, point)]


class WeightedRandom(BalancerBase):
    __slots__ = ("_draw", "_rng")

    def __init__(self, targets: list[Upstream], rng: random.Random) -> None:
        self._rng = rng
        super().__init__(targets)

    def rebuild(self) -> None:
        self._draw = WeightedDraw(self.live, self._rng)

    def pick(self, key: str | None = None, exclude: Upstream | None = None) -> Upstream | None:
        return self._draw.one(exclude)
