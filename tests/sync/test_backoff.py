"""Reconnect backoff: exponential, jittered, capped at 10 s."""

from __future__ import annotations

import random

import pytest

from data_plane.sync.backoff import Backoff


def test_delays_double_until_the_cap() -> None:
    backoff = Backoff(base=0.5, cap=10.0, rng=random.Random(1))
    ceilings = [0.5, 1, 2, 4, 8, 10, 10, 10]
    for ceiling in ceilings:
        delay = backoff.next_delay()
        assert ceiling / 2 <= delay <= ceiling


def test_no_delay_ever_exceeds_ten_seconds() -> None:
    backoff = Backoff(rng=random.Random(7))
    assert max(backoff.next_delay() for _ in range(200)) <= 10.0


def test_delays_are_jittered_between_nodes() -> None:
    first = [Backoff(rng=random.Random(seed)).next_delay() for seed in range(20)]
    assert len(set(first)) == 20


def test_reset_starts_again_from_the_base_delay() -> None:
    backoff = Backoff(base=1.0, cap=10.0, rng=random.Random(3))
    for _ in range(6):
        backoff.next_delay()
    backoff.reset()
    assert 0.5 <= backoff.next_delay() <= 1.0


def test_a_base_above_the_cap_is_refused() -> None:
    with pytest.raises(ValueError):
        Backoff(base=20.0, cap=10.0)


def test_repr_counts_failures() -> None:
    backoff = Backoff(rng=random.Random(0))
    backoff.next_delay()
    assert repr(backoff) == "<Backoff base=0.5 cap=10 failures=1>"
