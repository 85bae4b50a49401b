"""Smooth weighted round robin, as nginx does it.

Each pick adds every candidate's weight to its running score, takes the highest
score and subtracts the total weight from it. Picks follow the weights exactly over
each cycle and are spread out inside it: weights 5, 1, 1 give a a b a c a a, where a
plain weighted cycle would send a five requests in a row.
"""

from __future__ import annotations

from .balancer import BalancerBase
from .upstream import Upstream


class SmoothWeightedRoundRobin(BalancerBase):
    __slots__ = ("_scores",)

    def __init__(self, targets: list[Upstream]) -> None:
        # Scores by target position; a target that goes down keeps its score, as in nginx.
        self._scores = [0] * len(targets)
        super().__init__(targets)

    def pick(self, key: str | None = None, exclude: Upstream | None = None) -> Upstream | None:
        live = self.live
        if len(live) < 2:
            exclude = None
        scores = self._scores
        best = -1
        total = 0
        for target in live:
            if target is exclude:
                continue
            i = target.index
            scores[i] += target.weight
            total += target.weight
            if best < 0 or scores[i] > scores[best]:
                best = i
        if best < 0:
            return None
        scores[best] -= total
        return self.targets[best]
