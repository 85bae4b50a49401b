"""A key table's most common decision, made in place on its words: one key, one window.

This is the per-request arithmetic of `table.py` for a route with one window (the
usual `rate_limit`), taken out so that Cython compiles it into `decisions_c`, typed by
`decisions_c.pxd`: the table's words are then a C array of int64 and the GCRA step a
few machine instructions under the lock. `table.py` loads the compiled twin when it is
built, this one under FLEETGATE_NO_EXTENSIONS=1; both answer as `KeyTable.decide_one`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .gcra import Window
    from .table import Lock, Verdict


class Decisions:
    """Decisions on the words of one key table (`slots` slots of `slot_words` words after
    `header_words`), under its `lock`; `find(key, now)` is the table's slot lookup for a
    key not in its first slot (claiming or evicting one), run under the lock."""

    __slots__ = ("find", "header_words", "lock", "slot_words", "slots", "words")

    def __init__(
        self,
        words: memoryview,
        slots: int,
        header_words: int,
        slot_words: int,
        lock: Lock,
        find: Callable[[int, int], int],
    ) -> None:
        self.words = words
        self.slots = slots
        self.header_words = header_words
        self.slot_words = slot_words
        self.lock = lock
        self.find = find

    def decide_one(self, key: int, window: Window, now: int) -> Verdict:
        """Admit or refuse a request of `key` against its one `window` at `now`: whether
        it is admitted, 0 (the window's index), requests remaining, ticks to reset, and
        the ticks until one more is admitted."""
        words = self.words
        interval = window.interval
        capacity = window.capacity
        lock = self.lock
        lock.acquire()
        try:
            base = self.header_words + (key % self.slots) * self.slot_words
            if words[base] != key:
                base = self.find(key, now)
            at = base + 1 + window.slot
            tat = words[at]
            new_tat = (tat if tat > now else now) + interval
            admitted = new_tat - now <= capacity
            if admitted:
                words[at] = tat = new_tat
        finally:
            lock.release()
        ahead = tat - now if tat > now else 0
        remaining = (capacity - ahead) // interval
        wait = 0 if remaining > 0 else ahead + interval - capacity
        return admitted, 0, remaining, ahead, wait

    def close(self) -> None:
        """Let go of the table's words (before the table releases them)."""
        self.words = None  # type: ignore[assignment]
