"""Latency-aware balancing: power of two random choices over a peak EWMA of latency.

Two distinct targets are drawn at random (in proportion to weight) and the one with
the lower cost, ewma * (active + 1), is taken: the cost of a slow or busy target
rises, and comparing two random candidates rather than scanning for the best one keeps
several workers from herding onto the same target (Mitzenmacher's power of two
choices; Finagle's and Linkerd's peak-EWMA balancers).

The estimate is a "peak" EWMA: a latency above it is taken at once, so a target that
slows down loses traffic on its next response; lower latencies blend in with weight
1 - exp(-elapsed / decay). Between responses the cost decays toward zero on the same
time constant, so a target that stopped getting traffic because it was slow is tried
again after a while instead of never. The clock is an argument, for tests.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable

from .balancer import BalancerBase
from .random_choice import WeightedDraw
from .upstream import Upstream

DEFAULT_DECAY = 10.0  # seconds, as Finagle and Linkerd


class PeakEwma(BalancerBase):
    __slots__ = ("_clock", "_decay", "_draw", "_observed_at", "_rng")

    def __init__(
        self,
        targets: list[Upstream],
        rng: random.Random,
        clock: Callable[[], float] = time.monotonic,
        decay: float = DEFAULT_DECAY,
    ) -> None:
        self._rng = rng
        self._clock = clock
        self._decay = decay
        self._observed_at = [0.0] * len(targets)  # by target position
        super().__init__(targets)

    def rebuild(self) -> None:
        self._draw = WeightedDraw(self.live, self._rng)

    def pick(self, key: str | None = None, exclude: Upstream | None = None) -> Upstream | None:
        draw = self._draw
        first = draw.one(exclude)
        if first is None or len(self.live) < 2:
            return first
        second = draw.one(first)
        if second is None or second is exclude:
            return first
        now = self._clock()
        first_cost = self._cost(first, now)
        second_cost = self._cost(second, now)
        if second_cost < first_cost or (second_cost == first_cost and second.active < first.active):
            return second
        return first

    def observe(self, target: Upstream, latency: float) -> None:
        now = self._clock()
        i = target.index
        elapsed = now - self._observed_at[i]
        self._observed_at[i] = now
        if latency >= target.ewma:
            target.ewma = latency
        else:
            weight = math.exp(-max(elapsed, 0.0) / self._decay)
            target.ewma = target.ewma * weight + latency * (1.0 - weight)

    def _cost(self, target: Upstream, now: float) -> float:
        elapsed = now - self._observed_at[target.index]
        ewma = target.ewma * math.exp(-elapsed / self._decay) if elapsed > 0 else target.ewma
        return ewma * (target.active + 1)
