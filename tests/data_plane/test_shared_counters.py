"""Counters a node's workers share: limits held across processes, columns, epochs, locks."""

from __future__ import annotations

import os

import pytest

from data_plane.limits.counters import SharedCounters
from data_plane.limits.table import SpinLocks, key_hash
from tests.data_plane.forked import counted_together

LOCKS = [
    pytest.param(False, id="record-lock"),
    pytest.param(
        True,
        id="spin-lock",
        marks=pytest.mark.skipif(SpinLocks is None, reason="spin_lock.pyx is not built"),
    ),
]


@pytest.mark.parametrize("spin", LOCKS)
def test_a_limit_holds_over_the_columns_of_every_worker(spin: bool) -> None:
    fd = SharedCounters.create(2, 64, spin=spin)
    first, second = SharedCounters.open(fd, 0), SharedCounters.open(fd, 1)
    key = key_hash("inflight|tenant|acme")
    assert first.add(key, 1, 2) == 0
    assert second.add(key, 1, 2) == 1
    assert first.add(key, 1, 2) == -1
    second.clear_column(1)
    assert first.total(key) == 1
    assert first.add(key, 1, 2) == 1
    os.close(fd)


@pytest.mark.parametrize("spin", LOCKS)
def test_a_count_of_another_epoch_is_zero(spin: bool) -> None:
    fd = SharedCounters.create(1, 64, spin=spin)
    counters = SharedCounters.open(fd)
    key = key_hash("quota|acme")
    assert counters.add(key, 5, 0, epoch=1) == 0
    assert counters.total(key, epoch=1) == 5
    assert counters.total(key, epoch=2) == 0
    assert counters.add(key, 1, 0, epoch=2) == 0
    os.close(fd)


@pytest.mark.parametrize("spin", LOCKS)
def test_processes_adding_at_once_never_take_a_count_over_its_limit(spin: bool) -> None:
    limit, processes, tries = 6_000, 3, 4_000
    fd = SharedCounters.create(processes, 64, spin=spin)
    key = key_hash("quota|acme")

    def add(column: int) -> int:
        counters = SharedCounters.open(fd, column)
        return sum(counters.add(key, 1, limit) >= 0 for _ in range(tries))

    admitted = counted_together(processes, add)
    assert admitted == limit
    assert SharedCounters.open(fd).total(key) == limit
    os.close(fd)
