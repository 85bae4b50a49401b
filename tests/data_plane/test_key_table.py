"""The local backend's key table: keys kept apart, expiry, a bounded size, sharing."""

from __future__ import annotations

import os
import subprocess
import sys

from data_plane.limits.gcra import Window
from data_plane.limits.table import PROBES, KeyTable, key_hash

S = 1_000_000_000
PER_MINUTE_2 = (Window.of(1, 2, S),)


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


def test_workers_mapping_one_shared_table_decide_together() -> None:
    fd = KeyTable.create_shared(64)
    try:
        first, second = KeyTable.open_shared(fd), KeyTable.open_shared(fd)
        key = key_hash("k")
        assert first.decide([(key, PER_MINUTE_2)], 0)[0]
        assert second.decide([(key, PER_MINUTE_2)], 0)[0]
        assert not first.decide([(key, PER_MINUTE_2)], 0)[0]
        assert "shared" in repr(first)
    finally:
        os.close(fd)


def test_a_forked_process_shares_the_table() -> None:
    fd = KeyTable.create_shared(64)
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
