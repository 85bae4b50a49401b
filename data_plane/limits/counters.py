"""Counters one node's workers share: requests in flight (per tenant, per service), quotas.

Like the key table (table.py), a block of int64 words in a memfd the supervisor creates
before its workers start, under the same kind of lock as the table: the compiled spin
lock in a header word when the build has it, else a POSIX record lock. A slot is a key's
hash, an epoch and one count per worker: a key's value is the sum of its columns. Requests in flight
are counted in the column of the worker that holds them, so when a worker dies (a crash,
the watchdog) the supervisor clears its column and nothing it held stays counted. A
quota is counted in column 0 of a one-column table, and the epoch is the month: a
count from another month is zero.

Slots are claimed once and kept (tenants and services are a snapshot's, not a
client's, so they are few); a key that finds no slot among its PROBES is not counted,
and `misses` says how often.
"""

from __future__ import annotations

import mmap
import os

from .table import PROBES, RECORD_LOCK, SPIN_LOCK, Lock, RecordLock, SpinLocks

MAGIC = 0x66676374727331  # "fgctrs1"
HEADER_WORDS = 8
_SLOTS_AT, _COLUMNS_AT, _MISSES_AT, _LOCK_AT, _LOCK_KIND_AT = 1, 2, 3, 4, 5
DEFAULT_SLOTS = 4_096
MAX_COLUMNS = 1_024


class SharedCounters:
    """Counts by key, summed over the workers' columns, in shared memory."""

    __slots__ = (
        "_memory",
        "_where",
        "column",
        "columns",
        "fd",
        "lock",
        "slots",
        "width",
        "words",
    )

    def __init__(self, memory: mmap.mmap, fd: int | None, column: int = 0) -> None:
        self._memory = memory
        self.fd = fd
        self.words = memoryview(memory).cast("q")
        if self.words[0] != MAGIC:
            raise ValueError("not a fleetgate counters table")
        self.slots = self.words[_SLOTS_AT]
        self.columns = self.words[_COLUMNS_AT]
        self.width = 2 + self.columns
        if not 0 <= column < self.columns:
            raise ValueError(f"column {column} of a table of {self.columns}")
        self.column = column  # this worker's
        self._where: dict[int, int] = {}  # key -> word offset of its slot, once found
        self.lock: Lock = RecordLock(fd)
        if self.words[_LOCK_KIND_AT] == SPIN_LOCK:
            if SpinLocks is None:
                raise ValueError(
                    "the counters are locked with the compiled spin lock, which this process"
                    " does not have (built without it, or FLEETGATE_NO_EXTENSIONS is set)"
                )
            self.lock = SpinLocks(self.words, _LOCK_AT)

    @staticmethod
    def create(columns: int, slots: int = DEFAULT_SLOTS, *, spin: bool | None = None) -> int:
        """A new shared table as a memfd: `columns` workers, `slots` keys; `spin`: locked
        with the compiled spin lock (default: when this process has it)."""
        if not 1 <= columns <= MAX_COLUMNS or not 1 <= slots <= 1 << 20:
            raise ValueError(f"a counters table of {slots} slots and {columns} columns")
        if spin is None:
            spin = SpinLocks is not None
        fd = os.memfd_create("fleetgate-counters", os.MFD_CLOEXEC)
        size = (HEADER_WORDS + slots * (2 + columns)) * 8
        os.ftruncate(fd, size)
        with mmap.mmap(fd, size) as memory:
            words = memoryview(memory).cast("q")
            words[0] = MAGIC
            words[_SLOTS_AT] = slots
            words[_COLUMNS_AT] = columns
            words[_LOCK_KIND_AT] = SPIN_LOCK if spin else RECORD_LOCK
            words.release()
        return fd

    @classmethod
    def open(cls, fd: int, column: int = 0) -> SharedCounters:
        return cls(mmap.mmap(fd, os.fstat(fd).st_size), fd, column)

    @classmethod
    def private(cls, columns: int = 1, slots: int = 256) -> SharedCounters:
        """A table of this process alone (its memfd stays open with it)."""
        return cls.open(cls.create(columns, slots))

    # ------------------------------------------------------------ counting

    def add(self, key: int, delta: int, limit: int = 0, epoch: int = 0) -> int:
        """Add `delta` to `key`'s count in this worker's column, unless that would take
        the key's total over `limit` (0: no limit). Returns the total before, or -1
        when refused. A slot of another `epoch` counts from zero."""
        lock = self.lock
        lock.acquire()
        try:
            base = self._slot(key)
            if base < 0:
                return 0  # not counted: the table is full around this key
            words = self.words
            if words[base + 1] != epoch:
                for at in range(base + 1, base + self.width):
                    words[at] = 0
                words[base + 1] = epoch
            total = sum(words[base + 2 : base + self.width])
            if delta > 0 and limit and total + delta > limit:
                return -1
            words[base + 2 + self.column] += delta
            return total
        finally:
            lock.release()

    def total(self, key: int, epoch: int = 0) -> int:
        """`key`'s count over every column (0 in another epoch)."""
        base = self._where.get(key)
        if base is None:
            base = self._find(key)
        words = self.words
        if base < 0 or words[base + 1] != epoch:
            return 0
        return sum(words[base + 2 : base + self.width])

    def clear_column(self, column: int) -> None:
        """Forget what worker `column` held: it died."""
        lock = self.lock
        lock.acquire()
        try:
            words = self.words
            for base in range(HEADER_WORDS, HEADER_WORDS + self.slots * self.width, self.width):
                words[base + 2 + column] = 0
        finally:
            lock.release()

    def misses(self) -> int:
        return self.words[_MISSES_AT]

    def _find(self, key: int) -> int:
        words = self.words
        start = key % self.slots
        for probe in range(PROBES):
            base = HEADER_WORDS + ((start + probe) % self.slots) * self.width
            if words[base] == key:
                return base
        return -1

    def _slot(self, key: int) -> int:
        base = self._where.get(key)
        if base is not None:
            return base
        words = self.words
        start = key % self.slots
        for probe in range(PROBES):
            base = HEADER_WORDS + ((start + probe) % self.slots) * self.width
            if words[base] == key or words[base] == 0:
                words[base] = key
                self._where[key] = base
                return base
        words[_MISSES_AT] += 1
        return -1

    def __repr__(self) -> str:
        return (
            f"<SharedCounters slots={self.slots} columns={self.columns} column={self.column}"
            f" {self.lock!r}>"
        )
