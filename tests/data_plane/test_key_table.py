"""The local backend's key table: keys kept apart, expiry, a bounded size, sharing."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from data_plane.limits.gcra import Window
from data_plane.limits.table import PROBES, KeyTable, SpinLocks, key_hash
from tests.data_plane.forked import counted_together

S = 1_000_000_000
PER_MINUTE_2 = (Window.of(1, 2, S),)
# The two locks a shared table may have; the spin lock only where it is built.
LOCKS = [
    pytest.param(False, id="record-lock"),
    pytest.param(
        True,
        id="spin-lock",
        marks=pytest.mark.skipif(SpinLocks is None, reason="spin_lock.pyx is not built"),
    ),
]


def test_keys_count_apart() -> None:
    table = KeyTable.private(64)
    a, b = key_hash("a"), key_hash("b")
    assert [table.decide([(a, PER_MINUTE_2)], 0)[0] for _ in range(3)] == [True, True, False]
    assert table.decide([(b, PER_MINUTE_2)], 0)[0]


def test_the_hash_of_a_key_is_the_same_in_every_process() -> None:
    assert key_hash("route|r|client_ip|client:10.0.0.1") == key_hash(
        "route|r|client_ip|client:10.0.0.1"
    )
    code = "from data_plane.limits.table import key_hash; print(key_hash('x'))"
    other = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONHASHSEED": "7"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert other.stdout.strip() == str(key_hash("x"))


def test_a_refusal_in_one_entry_charges_no_other() -> None:
    table = KeyTable.private(64)
    route, tenant = key_hash("route"), key_hash("tenant")
    one = (Window.of(1, 1, S),)
    assert table.decide([(tenant, one)], 0)[0]
    admitted, _ = table.decide([(route, PER_MINUTE_2), (tenant, one)], 0)
    assert not admitted
    assert table.decide([(route, PER_MINUTE_2)], 0)[0]
    assert table.decide([(route, PER_MINUTE_2)], 0)[0]  # both of the route's two remain


def test_a_flood_of_distinct_keys_keeps_the_table_size_and_counts_evictions() -> None:
    table = KeyTable.private(128)
    for i in range(10_000):
        assert table.decide([(key_hash(f"client:{i}"), PER_MINUTE_2)], 0)[0]
    assert table.keys_held(0) == 128
    assert table.evictions() == 10_000 - 128


def test_a_key_whose_windows_are_past_holds_nothing_and_its_slot_is_reused() -> None:
    table = KeyTable.private(PROBES)  # every key probes every slot
    for i in range(PROBES):
        table.decide([(key_hash(f"old:{i}"), PER_MINUTE_2)], 0)
    assert table.keys_held(29 * S) == PROBES
    assert table.keys_held(30 * S) == 0  # each was charged half a minute at 0
    table.decide([(key_hash("new"), PER_MINUTE_2)], 30 * S)
    assert table.evictions() == 0


@pytest.mark.parametrize("spin", LOCKS)
def test_workers_mapping_one_shared_table_decide_together(spin: bool) -> None:
    fd = KeyTable.create_shared(64, spin=spin)
    try:
        first, second = KeyTable.open_shared(fd), KeyTable.open_shared(fd)
        key = key_hash("k")
        assert first.decide([(key, PER_MINUTE_2)], 0)[0]
        assert second.decide([(key, PER_MINUTE_2)], 0)[0]
        assert not first.decide([(key, PER_MINUTE_2)], 0)[0]
        assert "shared" in repr(first)
    finally:
        os.close(fd)


@pytest.mark.parametrize("spin", LOCKS)
def test_a_forked_process_shares_the_table(spin: bool) -> None:
    fd = KeyTable.create_shared(64, spin=spin)
    table = KeyTable.open_shared(fd)
    key = key_hash("k")
    pid = os.fork()
    if pid == 0:  # the child takes one of the two
        child = KeyTable.open_shared(fd)
        os._exit(0 if child.decide([(key, PER_MINUTE_2)], 0)[0] else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert table.decide([(key, PER_MINUTE_2)], 0)[0]
    assert not table.decide([(key, PER_MINUTE_2)], 0)[0]
    os.close(fd)


def test_decide_one_admits_and_reports_as_decide_does_for_one_key() -> None:
    windows = (Window.of(0, 3, S), Window.of(1, 5, S), Window.of(2, 7, S))
    one, many = KeyTable.private(64), KeyTable.private(64)
    key = key_hash("k")
    now = 0
    for step in range(40):
        now += (step % 4) * S // 3
        for chosen in (windows, windows[1:2]):
            admitted, states = many.decide([(key, chosen)], now)
            figures = [(s.remaining, -s.reset) for s in states[0]]
            tightest = figures.index(min(figures))
            state = states[0][tightest]
            wait = max(s.wait for s in states[0])
            expected = (admitted, tightest, state.remaining, state.reset, wait)
            assert one.decide_one(key, chosen, now) == expected


@pytest.mark.parametrize("spin", LOCKS)
def test_processes_deciding_at_once_admit_exactly_the_limit(spin: bool) -> None:
    limit, processes, tries = 7_500, 3, 5_000
    per_day = (Window.of(3, limit, S),)
    fd = KeyTable.create_shared(64, spin=spin)
    key = key_hash("k")

    def decide(_: int) -> int:
        table = KeyTable.open_shared(fd)
        return sum(table.decide_one(key, per_day, 0)[0] for _ in range(tries))

    admitted = counted_together(processes, decide)
    os.close(fd)
    assert admitted == limit


@pytest.mark.skipif(SpinLocks is None, reason="spin_lock.pyx is not built")
def test_a_spin_lock_left_by_a_dead_process_is_taken_over() -> None:
    fd = KeyTable.create_shared(64, spin=True)
    table = KeyTable.open_shared(fd)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    table.words[3] = dead.pid  # the lock word, as a process killed mid-decision leaves it
    assert table.decide_one(key_hash("k"), PER_MINUTE_2, 0)[0]
    assert table.words[3] == 0
    table.close()
    os.close(fd)


@pytest.mark.skipif(SpinLocks is None, reason="spin_lock.pyx is not built")
def test_a_process_without_the_spin_lock_refuses_a_table_locked_with_it() -> None:
    fd = KeyTable.create_shared(64, spin=True)
    code = (
        "import sys; from data_plane.limits.table import KeyTable\n"
        "try:\n    KeyTable.open_shared(int(sys.argv[1]))\n"
        "except ValueError as exc:\n    print(exc)"
    )
    other = subprocess.run(
        [sys.executable, "-c", code, str(fd)],
        env={**os.environ, "FLEETGATE_NO_EXTENSIONS": "1"},
        pass_fds=(fd,),
        capture_output=True,
        text=True,
        check=True,
    )
    os.close(fd)
    assert "spin lock" in other.stdout


def test_decide_entries_admits_and_reports_as_decide_does() -> None:
    route = (Window.of(0, 3, S), Window.of(1, 5, S))
    tier = (Window.of(1, 4, S), Window.of(2, 9, S))
    entries = [(key_hash("route"), route), (key_hash("tenant"), tier)]
    figured, many = KeyTable.private(64), KeyTable.private(64)
    now = 0
    for step in range(60):
        now += (step % 5) * S // 4
        chosen = entries if step % 3 else entries[1:]
        admitted, states = many.decide(chosen, now)
        named = [(s.remaining, -s.reset) for ss in states for s in ss]
        tightest = named.index(min(named))
        remaining, minus_reset = named[tightest]
        wait = max(s.wait for ss in states for s in ss)
        later = max([s.wait for ss in states[1:] for s in ss], default=0)
        expected = (admitted, tightest, remaining, -minus_reset, wait, later)
        assert figured.decide_entries(chosen, now) == expected
