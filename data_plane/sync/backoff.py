"""Reconnect delays: exponential, jittered, capped at 10 s (DESIGN.md, config sync rule 8).

`jittered_delay` is the one formula; the proxy's retry backoff draws from it too.
"""

from __future__ import annotations

import random

BASE_DELAY = 0.5
MAX_DELAY = 10.0


def jittered_delay(base: float, cap: float, attempt: int, rng: random.Random) -> float:
    """The delay before retry number `attempt` (0 first): base * 2**attempt, capped,
    drawn from [d/2, d]."""
    ceiling = min(cap, base * 2 ** min(attempt, 32))
    return rng.uniform(ceiling / 2, ceiling)


class Backoff:
    """Delays of base * 2**n, each drawn from [d/2, d] so a fleet does not reconnect in step.

    Equal jitter rather than full jitter: a node never retries at once in a tight loop,
    and nodes dropped together by a replica restart still spread out over half the delay.
    """

    def __init__(
        self,
        base: float = BASE_DELAY,
        cap: float = MAX_DELAY,
        rng: random.Random | None = None,
    ) -> None:
        if not 0 < base <= cap:
            raise ValueError("backoff needs 0 < base <= cap")
        self.base = base
        self.cap = cap
        self._rng = rng or random.Random()
        self.failures = 0

    def next_delay(self) -> float:
        """The delay before the next attempt; each call counts one more failure."""
        delay = jittered_delay(self.base, self.cap, self.failures, self._rng)
        self.failures += 1
        return delay

    def reset(self) -> None:
        """A connection succeeded: the next failure starts from the base delay again."""
        self.failures = 0

    def __repr__(self) -> str:
        return f"<Backoff base={self.base:g} cap={self.cap:g} failures={self.failures}>"
