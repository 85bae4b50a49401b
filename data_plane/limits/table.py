"""The local backend's key table: fixed slots of GCRA state in one block of memory.

One table per node. The supervisor creates it in shared memory (a memfd) before it
starts the workers, each worker maps it, so every worker decides against the same
TATs and a node admits one limit whatever worker the kernel hands a connection to
(nginx's `limit_req` zone, the same idea). A process on its own (tests, tools) maps a
private one.

Layout, all native int64: a header of HEADER_WORDS words (magic, slot count,
evictions), then `slots` slots of SLOT_WORDS words: the key's 64-bit hash (0: empty)
and one TAT per window (gcra.WINDOW_NAMES). Keys are found by open addressing over
PROBES consecutive slots from `hash % slots`. Memory is fixed, whatever the traffic: a
slot whose TATs are all past holds nothing (GCRA's state then equals no state) and is
taken by the next new key; when all PROBES slots hold live keys, the one nearest its
expiry is evicted, forgetting that key's state, and the header counts it.

Every decision runs under the table's lock, nothing in a process on its own. Between
workers it is the compiled spin lock (`spin_lock.pyx`: an atomic compare-and-swap on a
header word, no system call) when the node is built with it, else a POSIX record lock
on the memfd (`RecordLock`, two system calls a decision). The supervisor that creates
the table writes which one into the header, and a worker that cannot take that kind
refuses to map the table, so two kinds never decide on it at once.
docs/rate-limits.md has what a decision costs.
"""

from __future__ import annotations

import fcntl
import mmap
import os
from collections.abc import Sequence
from hashlib import blake2b
from typing import TYPE_CHECKING, Protocol

from data_plane.extensions import NO_EXTENSIONS, load

from .gcra import SLOTS, Window, WindowState, admit, state

if TYPE_CHECKING:
    from .spin_lock import SpinLock

MAGIC = 0x66676C696D697431  # "fglimit1"
HEADER_WORDS = 8
SLOT_WORDS = 1 + SLOTS
PROBES = 8
_SLOTS_AT, _EVICTIONS_AT, _LOCK_AT, _LOCK_KIND_AT = 1, 2, 3, 4
RECORD_LOCK, SPIN_LOCK = 0, 1  # the header's lock kinds
DEFAULT_SLOTS = 65_536  # 2.5 MiB
MAX_SLOTS = 1 << 24

Entry = tuple[int, tuple[Window, ...]]  # a key's hash and the windows that apply to it
# What `decide_one` answers: admitted, tightest window, its remaining and reset, the wait
Verdict = tuple[bool, int, int, int, int]
# What `decide_entries` answers: admitted, the tightest window (its index among all the
# entries' windows), its remaining and reset, the longest wait, and that of the entries
# after the first
Figures = tuple[bool, int, int, int, int, int]


# The one-key, one-window decision, compiled (decisions_c) when built.
_decisions = load("data_plane.limits.decisions")


def key_hash(key: str) -> int:
    """A key's 64-bit hash, the same in every process (never 0: 0 marks an empty slot)."""
    value = int.from_bytes(blake2b(key.encode(), digest_size=8).digest(), "little", signed=True)
    return value or 1


def table_bytes(slots: int) -> int:
    return (HEADER_WORDS + slots * SLOT_WORDS) * 8


class Lock(Protocol):
    """Mutual exclusion over a table between the processes that map it."""

    def acquire(self) -> None: ...

    def release(self) -> None: ...

    def close(self) -> None: ...


class RecordLock:
    """A POSIX record lock on the table's memfd; none in a process on its own."""

    __slots__ = ("fd",)

    def __init__(self, fd: int | None) -> None:
        self.fd = fd  # the memfd to lock, or None in a process on its own

    def acquire(self) -> None:
        if self.fd is not None:
            fcntl.lockf(self.fd, fcntl.LOCK_EX)

    def release(self) -> None:
        if self.fd is not None:
            fcntl.lockf(self.fd, fcntl.LOCK_UN)

    def close(self) -> None:
        pass

    def __repr__(self) -> str:
        return "<RecordLock>" if self.fd is not None else "<RecordLock none>"


def _spin_locks() -> type[SpinLock] | None:
    """The compiled spin lock, unless it is not built or extensions are switched off."""
    if NO_EXTENSIONS:
        return None
    try:
        from .spin_lock import SpinLock
    except ImportError:
        return None
    return SpinLock


SpinLocks = _spin_locks()


class KeyTable:
    """GCRA state of every key of the local backend, in a fixed block of memory."""

    __slots__ = ("_memory", "decisions", "fd", "lock", "slots", "words")

    def __init__(self, memory: mmap.mmap, fd: int | None) -> None:
        self._memory = memory
        self.fd = fd
        self.words = memoryview(memory).cast("q")
        if self.words[0] != MAGIC:
            raise ValueError("not a fleetgate key table")
        self.slots = self.words[_SLOTS_AT]
        if not 1 <= self.slots <= MAX_SLOTS or len(self.words) < HEADER_WORDS + (
            self.slots * SLOT_WORDS
        ):
            raise ValueError("a key table of the wrong size")
        self.lock: Lock = RecordLock(fd)
        if fd is not None and self.words[_LOCK_KIND_AT] == SPIN_LOCK:
            if SpinLocks is None:
                raise ValueError(
                    "the key table is locked with the compiled spin lock, which this process"
                    " does not have (built without it, or FLEETGATE_NO_EXTENSIONS is set)"
                )
            self.lock = SpinLocks(self.words, _LOCK_AT)
        # What a request of one key against one window runs: `decide_one`'s common case
        self.decisions = _decisions.Decisions(
            self.words, self.slots, HEADER_WORDS, SLOT_WORDS, self.lock, self._slot
        )

    # ------------------------------------------------------------ making one

    @classmethod
    def private(cls, slots: int = DEFAULT_SLOTS) -> KeyTable:
        """A table for this process alone."""
        memory = mmap.mmap(-1, table_bytes(slots))
        _format(memory, slots)
        return cls(memory, None)

    @staticmethod
    def create_shared(slots: int = DEFAULT_SLOTS, *, spin: bool | None = None) -> int:
        """A new shared table as a memfd, for the supervisor to hand to its workers.

        `spin`: lock it with the compiled spin lock (default: when this process has it;
        its workers, running the same build, have it too), else with the record lock."""
        if not 1 <= slots <= MAX_SLOTS:
            raise ValueError(f"a key table holds 1 to {MAX_SLOTS} slots, not {slots}")
        if spin is None:
            spin = SpinLocks is not None
        fd = os.memfd_create("fleetgate-limits", os.MFD_CLOEXEC)
        os.ftruncate(fd, table_bytes(slots))
        with mmap.mmap(fd, table_bytes(slots)) as memory:
            _format(memory, slots, SPIN_LOCK if spin else RECORD_LOCK)
        return fd

    @classmethod
    def open_shared(cls, fd: int) -> KeyTable:
        """Map the shared table of memfd `fd` (inherited from the supervisor)."""
        return cls(mmap.mmap(fd, os.fstat(fd).st_size), fd)

    # ------------------------------------------------------------ deciding

    def decide(self, entries: Sequence[Entry], now: int) -> tuple[bool, list[list[WindowState]]]:
        """Admit or refuse one request against the windows of every entry, at once."""
        words = self.words
        lock = self.lock
        lock.acquire()
        try:
            bases = [self._slot(key, now) for key, _ in entries]
            moves: list[tuple[int, int]] = []
            admitted = True
            for base, (_, windows) in zip(bases, entries, strict=True):
                for window in windows:
                    at = base + 1 + window.slot
                    new_tat = admit(window, words[at], now)
                    if new_tat < 0:
                        admitted = False
                    else:
                        moves.append((at, new_tat))
            if admitted:
                for at, new_tat in moves:
                    words[at] = new_tat
            return admitted, [
                [state(window, words[base + 1 + window.slot], now) for window in windows]
                for base, (_, windows) in zip(bases, entries, strict=True)
            ]
        finally:
            lock.release()

    def decide_one(self, key: int, windows: tuple[Window, ...], now: int) -> Verdict:
        """`decide_entries` for one key (`windows`' index for the tightest window), with
        a way of its own for the common single window."""
        if len(windows) != 1:
            admitted, tightest, remaining, reset, wait, _ = self.decide_entries(
                ((key, windows),), now
            )
            return admitted, tightest, remaining, reset, wait
        return self.decisions.decide_one(key, windows[0], now)

    def decide_entries(self, entries: Sequence[Entry], now: int) -> Figures:
        """`decide`, answered as the figures a response needs (no WindowState per window):
        whether the request is admitted; the window with the least left (ties: the
        longest to reset), as its index among the entries' windows in order, with its
        remaining requests and ticks to reset; the longest wait of any window, and of any
        window of the entries after the first (ticks until one more request is
        admitted)."""
        words = self.words
        slots = self.slots
        spots: list[tuple[int, Window, int]] = []  # a window's TAT word, the window, its entry
        tats: list[int] = []
        moved: list[int] = []
        admitted = True
        lock = self.lock
        lock.acquire()
        try:
            for entry, (key, windows) in enumerate(entries):
                base = HEADER_WORDS + (key % slots) * SLOT_WORDS
                if words[base] != key:
                    base = self._slot(key, now)
                for window in windows:
                    spots.append((base + 1 + window.slot, window, entry))
            for at, window, _ in spots:
                tat = words[at]
                tats.append(tat)
                new_tat = (tat if tat > now else now) + window.interval
                if new_tat - now > window.capacity:
                    admitted = False
                moved.append(new_tat)
            if admitted:
                for (at, _, _), new_tat in zip(spots, moved, strict=True):
                    words[at] = new_tat
                tats = moved
        finally:
            lock.release()
        tightest = 0
        least = reset = longest_wait = later_wait = -1
        for i, ((_, window, entry), tat) in enumerate(zip(spots, tats, strict=True)):
            ahead = tat - now if tat > now else 0
            remaining = (window.capacity - ahead) // window.interval
            if remaining <= 0:
                wait = ahead + window.interval - window.capacity
                if wait > longest_wait:
                    longest_wait = wait
                if entry and wait > later_wait:
                    later_wait = wait
            if least < 0 or remaining < least or (remaining == least and ahead > reset):
                tightest, least, reset = i, remaining, ahead
        return admitted, tightest, least, reset, max(longest_wait, 0), max(later_wait, 0)

    def _slot(self, key: int, now: int) -> int:
        """The word offset of `key`'s slot: its own, else a free one (claimed), else the
        one of the live key nearest its expiry (evicted)."""
        words = self.words
        slots = self.slots
        start = key % slots
        for probe in range(PROBES):
            base = HEADER_WORDS + ((start + probe) % slots) * SLOT_WORDS
            if words[base] == key:
                return base
        free = -1
        oldest = -1
        oldest_expiry = 0
        for probe in range(PROBES):
            base = HEADER_WORDS + ((start + probe) % slots) * SLOT_WORDS
            held = words[base]
            expiry = max(words[base + 1 : base + SLOT_WORDS])
            if held == 0 or expiry <= now:
                if free < 0:
                    free = base
            elif oldest < 0 or expiry < oldest_expiry:
                oldest, oldest_expiry = base, expiry
        if free < 0:
            free = oldest
            words[_EVICTIONS_AT] += 1
        words[free] = key
        for at in range(free + 1, free + SLOT_WORDS):
            words[at] = 0
        return free

    # ------------------------------------------------------------ figures

    def evictions(self) -> int:
        """Live keys forgotten to make room for new ones, since the table was created."""
        return self.words[_EVICTIONS_AT]

    def keys_held(self, now: int) -> int:
        """Keys with live state: slots with a TAT after `now`."""
        words = self.words
        held = 0
        for base in range(HEADER_WORDS, HEADER_WORDS + self.slots * SLOT_WORDS, SLOT_WORDS):
            if words[base] and max(words[base + 1 : base + SLOT_WORDS]) > now:
                held += 1
        return held

    def close(self) -> None:
        self.decisions.close()
        self.lock.close()
        self.words.release()
        self._memory.close()

    def __repr__(self) -> str:
        kind = "private" if self.fd is None else f"shared fd={self.fd} {self.lock!r}"
        return f"<KeyTable {kind} slots={self.slots} evictions={self.evictions()}>"


def _format(memory: mmap.mmap, slots: int, lock: int = RECORD_LOCK) -> None:
    words = memoryview(memory).cast("q")
    try:
        words[0] = MAGIC
        words[_SLOTS_AT] = slots
        words[_LOCK_KIND_AT] = lock
    finally:
        words.release()
