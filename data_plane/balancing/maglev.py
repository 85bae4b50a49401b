"""Consistent hashing with Maglev (Eisenbud et al., NSDI 2016), weight-aware.

A lookup table of a prime number of slots is filled by the live targets, each taking
turns to claim the next free slot along its own permutation of the table (an offset
and a step derived from its address). Looking a key up is one hash and one index.
Permutations depend on the address alone, so removing one of N targets frees its own
slots, which are shared out among the rest, and disturbs few others: about 1/N of
keys move. Turns are weighted: a target claims slots at a rate
proportional to its weight, so its share of keys follows its weight.

The table is rebuilt when a target goes up or down. Hashes are blake2b, stable across
processes and nodes, so every worker of every node sends a key to the same target.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterator
from hashlib import blake2b
from itertools import cycle, islice

from .balancer import BalancerBase
from .upstream import Upstream

# Prime, and over 100 slots per target for pools of up to 655 equal targets, the
# paper's rule for even shares. It does not depend on the pool: a key keeps its slot
# when targets come and go. Filling it costs tens of milliseconds in Python, paid when
# a snapshot is compiled and when a target's health changes.
TABLE_SIZE = 65_537


def key_hash(key: str) -> int:
    """The 64-bit hash of a hash-key value."""
    return int.from_bytes(blake2b(key.encode(), digest_size=8).digest(), "little")


def build_table(targets: list[Upstream], size: int = TABLE_SIZE) -> list[Upstream]:
    """The Maglev lookup table of `targets` (all with weight > 0); `size` is prime."""
    if len(targets) == 1:
        return [targets[0]] * size
    # Order by address, so the table does not depend on the order of the config.
    ordered = sorted(targets, key=lambda t: t.address)
    probe: list[int] = []  # where each target looks for its next free slot
    step: list[int] = []
    for target in ordered:
        digest = blake2b(target.address.encode(), digest_size=16).digest()
        probe.append(int.from_bytes(digest[:8], "little") % size)
        step.append(int.from_bytes(digest[8:], "little") % (size - 1) + 1)
    owner = [-1] * size
    for i in _turns([t.weight for t in ordered], size):
        here, stride = probe[i], step[i]
        while owner[here] >= 0:
            here += stride
            if here >= size:
                here -= size
        owner[here] = i
        here += stride
        probe[i] = here - size if here >= size else here
    return [ordered[i] for i in owner]


def _turns(weights: list[int], count: int) -> Iterator[int]:
    """Which target claims each of `count` slots: in proportion to weight, interleaved."""
    if len(set(weights)) == 1:
        yield from islice(cycle(range(len(weights))), count)
        return
    # Virtual time: a target's next claim is due at (claims + 1) / weight.
    claims = [0] * len(weights)
    due = [(1.0 / w, i) for i, w in enumerate(weights)]
    heapq.heapify(due)
    for _ in range(count):
        i = due[0][1]
        yield i
        claims[i] += 1
        heapq.heapreplace(due, ((claims[i] + 1) / weights[i], i))


class Maglev(BalancerBase):
    __slots__ = ("_rng", "_size", "_table")

    def __init__(self, targets: list[Upstream], rng: random.Random, size: int = TABLE_SIZE) -> None:
        self._rng = rng
        self._size = size
        super().__init__(targets)

    def rebuild(self) -> None:
        self._table = build_table(self.live, self._size) if self.live else []

    def pick(self, key: str | None = None, exclude: Upstream | None = None) -> Upstream | None:
        table = self._table
        if not table:
            return None
        size = self._size
        # No key (say, a missing cookie): any target will do.
        hashed = key_hash(key) if key is not None else self._rng.getrandbits(64)
        here = hashed % size
        target = table[here]
        if target is not exclude or len(self.live) < 2:
            return target
        # A retry walks the table on a step of its own from the key, so the same key
        # always falls back to the same target, and fallbacks are spread like keys.
        stride = (hashed >> 17) % (size - 1) + 1
        while target is exclude:
            here = (here + stride) % size
            target = table[here]
        return target
