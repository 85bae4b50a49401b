"""Refused streams are logged at a bounded rate, with a count of the lines held back."""

from __future__ import annotations

import logging

import pytest

from control_plane.sync.refusals import RefusalLog


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_of_refusals_logs_once_then_once_per_interval_with_a_count(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    refusals = RefusalLog(logging.getLogger("test.refusals"), interval=10.0, clock=clock)
    with caplog.at_level(logging.WARNING, logger="test.refusals"):
        logged = [refusals.warning("token", "refused %s", f"peer-{i}") for i in range(1000)]
        clock.now += 10.0
        refusals.warning("token", "refused %s", "peer-late")
    assert logged.count(True) == 1
    assert [r.getMessage() for r in caplog.records] == [
        "refused peer-0",
        "refused peer-late (999 more not logged in the last 10 s)",
    ]


def test_kinds_of_refusal_are_limited_apart(caplog: pytest.LogCaptureFixture) -> None:
    refusals = RefusalLog(logging.getLogger("test.refusals"), clock=Clock())
    with caplog.at_level(logging.WARNING, logger="test.refusals"):
        assert refusals.warning("token", "a")
        assert refusals.warning("hello", "b")
        assert not refusals.warning("token", "c")
    assert len(caplog.records) == 2
