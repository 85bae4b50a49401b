"""GCRA on an injected clock: bursts, steady rates, window edges, several windows at once."""

from __future__ import annotations

import pytest

from data_plane.limits.gcra import Window, decide

S = 1_000_000_000  # ticks per second (nanoseconds)
SECOND, MINUTE, HOUR, DAY = range(4)


def run(windows: tuple[Window, ...], times: list[int]) -> list[bool]:
    """Whether each request at `times` (ticks) is admitted, from no state."""
    tats = [0, 0, 0, 0]
    out = []
    for now in times:
        admitted, tats, _ = decide(windows, tats, now)
        out.append(admitted)
    return out


def test_a_burst_of_exactly_the_limit_is_admitted_at_once() -> None:
    window = Window.of(MINUTE, 100, S)
    admitted = run((window,), [5 * S] * 101)
    assert admitted == [True] * 100 + [False]


@pytest.mark.parametrize("limit", [1, 7, 60, 999, 1_000_000])
def test_a_limit_that_does_not_divide_the_window_still_admits_exactly_the_limit(limit: int) -> None:
    window = Window.of(SECOND, limit, S)
    assert sum(run((window,), [S] * (limit + 5))) == limit


def test_after_a_burst_one_request_is_admitted_per_interval() -> None:
    window = Window.of(MINUTE, 60, S)  # one per second
    tats = [0, 0, 0, 0]
    for _ in range(60):
        admitted, tats, _ = decide((window,), tats, 10 * S)
        assert admitted
    assert not decide((window,), tats, 10 * S + S - 1)[0]
    assert decide((window,), tats, 10 * S + S)[0]


def test_at_the_window_edge_the_whole_window_is_back() -> None:
    window = Window.of(MINUTE, 10, S)
    tats = [0, 0, 0, 0]
    for _ in range(10):
        _, tats, _ = decide((window,), tats, 0)
    # Unlike a fixed window counter, no second burst at the boundary: 60 s after the
    # burst the key is whole again, not before.
    assert sum(run_from(window, tats, [59 * S] * 20)) == 9
    assert sum(run_from(window, tats, [60 * S] * 20)) == 10


def run_from(window: Window, tats: list[int], times: list[int]) -> list[bool]:
    tats = list(tats)
    out = []
    for now in times:
        admitted, tats, _ = decide((window,), tats, now)
        out.append(admitted)
    return out


def test_a_refused_request_moves_no_window() -> None:
    per_second = Window.of(SECOND, 100, S)
    per_minute = Window.of(MINUTE, 3, S)
    tats = [0, 0, 0, 0]
    for _ in range(3):
        admitted, tats, _ = decide((per_second, per_minute), tats, 0)
        assert admitted
    admitted, after, _ = decide((per_second, per_minute), tats, 0)
    assert not admitted
    assert after == tats  # the per-second window was not charged for the refusal


def test_the_figures_say_what_is_left_when_it_is_whole_and_how_long_to_wait() -> None:
    window = Window.of(MINUTE, 60, S)
    tats = [0, 0, 0, 0]
    for _ in range(59):
        _, tats, states = decide((window,), tats, 0)
    assert states[0].remaining == 1
    assert states[0].reset == 59 * S
    _, tats, states = decide((window,), tats, 0)
    assert states[0].remaining == 0
    admitted, _, states = decide((window,), tats, 0)
    assert not admitted and states[0].wait == S  # the next slot opens in a second


def test_a_window_finer_than_a_tick_is_refused() -> None:
    with pytest.raises(ValueError, match="finer than a tick"):
        Window.of(SECOND, 2_000_000, 1_000_000)
