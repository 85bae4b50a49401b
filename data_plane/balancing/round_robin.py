"""Round robin: every live target in turn, weights ignored."""

from __future__ import annotations

import random

from .balancer import BalancerBase
from .upstream import Upstream


class RoundRobin(BalancerBase):
    """Cycles over the live targets; a random start keeps workers out of lockstep."""

    __slots__ = ("_next",)

    def __init__(self, targets: list[Upstream], rng: random.Random) -> None:
        self._next = rng.randrange(max(len(targets), 1))
        super().__init__(targets)

    def pick(self, key: str | None = None, exclude: Upstream | None = None) -> Upstream | None:
        live = self.live
        count = len(live)
        if not count:
            return None
        i = self._next % count
        target = live[i]
        if target is exclude and count > 1:
            i = (i + 1) % count
            target = live[i]
        self._next = i + 1
        return target
