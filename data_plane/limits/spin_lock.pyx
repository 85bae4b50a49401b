# cython: language_level=3
"""The key table's lock between the workers of a node, without a system call.

A word of the table's header (shared memory) holds 0 when the lock is free, else the
pid of the process holding it. Taking it is one atomic compare-and-swap of 0 to our
pid; giving it back, one atomic store of 0. A decision holds it for the few hundred
nanoseconds of its arithmetic, where the POSIX record lock of the pure-Python build
(`table.py`) costs two system calls. A waiter spins a little, then yields its core
between tries, so a holder descheduled mid-decision costs the waiter a time slice, not
a busy core. A holder that died holding the lock (its pid gone) is replaced by the
next waiter after a while: the decision it was making may be half written, as with
the record lock a killed process drops.

Compiled by setup.py; `table.py` falls back on the record lock when this module is not
built or `FLEETGATE_NO_EXTENSIONS` is set, and the table's header says which lock its
workers use, so two kinds never share one table.
"""

import os

cdef extern from *:
    """
    static inline int fleetgate_lock_try(long long *word, long long owner) {
        long long expected = 0;
        return __atomic_compare_exchange_n(
            word, &expected, owner, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
    }
    static inline int fleetgate_lock_replace(long long *word, long long dead, long long owner) {
        return __atomic_compare_exchange_n(
            word, &dead, owner, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
    }
    static inline long long fleetgate_lock_holder(long long *word) {
        return __atomic_load_n(word, __ATOMIC_RELAXED);
    }
    static inline void fleetgate_lock_release(long long *word) {
        __atomic_store_n(word, 0, __ATOMIC_RELEASE);
    }
    """
    bint fleetgate_lock_try(long long *word, long long owner) nogil
    bint fleetgate_lock_replace(long long *word, long long dead, long long owner) nogil
    long long fleetgate_lock_holder(long long *word) nogil
    void fleetgate_lock_release(long long *word) nogil

cdef extern from "<sched.h>":
    int sched_yield() nogil

# Tries between two yields of the core, and yields between two looks at whether the
# holder is still alive (a decision takes well under a microsecond; a yield, about
# one time slice when another process is runnable).
cdef int SPINS = 100
cdef int YIELDS_PER_CHECK = 256

cdef long long _pid = os.getpid()


def _forked() -> None:
    global _pid
    _pid = os.getpid()


os.register_at_fork(after_in_child=_forked)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


cdef class SpinLock:
    """The lock in word `at` of `words` (a native int64 view of the shared table)."""

    cdef long long[::1] _words
    cdef long long *_word
    cdef readonly Py_ssize_t at

    def __init__(self, words, Py_ssize_t at):
        self._words = words
        self.at = at
        self._word = &self._words[at]

    cpdef acquire(self):
        if fleetgate_lock_try(self._word, _pid):
            return
        self._wait()

    cpdef release(self):
        fleetgate_lock_release(self._word)

    def holder(self) -> int:
        """The pid holding the lock, 0 when it is free."""
        return fleetgate_lock_holder(self._word)

    def close(self) -> None:
        """Stop using the table's memory (before the table unmaps it)."""
        self._word = NULL
        self._words = None

    cdef _wait(self):
        cdef long long *word = self._word
        cdef long long holder
        cdef int spin
        cdef int yields = 0
        while True:
            for spin in range(SPINS):
                if fleetgate_lock_holder(word) == 0 and fleetgate_lock_try(word, _pid):
                    return
            sched_yield()
            yields += 1
            if yields % YIELDS_PER_CHECK == 0:
                holder = fleetgate_lock_holder(word)
                if holder != 0 and holder != _pid and not _alive(holder):
                    if fleetgate_lock_replace(word, holder, _pid):
                        return

    def __repr__(self) -> str:
        return f"<SpinLock word={self.at} holder={self.holder() if self._word != NULL else None}>"
