"""GCRA, the generic cell rate algorithm: one timestamp per key and window, no I/O.

A window of `limit` requests per `period` spaces requests `interval = period // limit`
apart and lets a burst of `limit` through at once. The only state is the theoretical
arrival time (TAT) of the next request: a request at `now` is admitted when
`max(tat, now) + interval - now <= interval * limit`, and then moves the TAT to
`max(tat, now) + interval`. Capacity is `interval * limit` rather than `period` so that
a burst is exactly `limit` whatever the rounding of the division. A TAT at or before
`now` is the same as no state at all, so a key whose TATs are all past can be dropped.

Time is an integer of ticks (nanoseconds on a node, microseconds on Redis): sums and
comparisons are exact, and the same arithmetic runs in the Lua script on Redis.

A decision covers several windows (and several keys, for a route's windows and its
tenant's tier windows) at once: either every window admits the request and every TAT
moves, or none moves. A refused request costs no allowance.
"""

from __future__ import annotations

from dataclasses import dataclass

# The four windows, in the order of a key's TAT slots.
WINDOW_NAMES = ("second", "minute", "hour", "day")
WINDOW_SECONDS = (1, 60, 3_600, 86_400)
SLOTS = len(WINDOW_NAMES)
# The smallest spacing of two requests, in seconds: a window admitting more than one
# request per microsecond is refused at validation (Redis counts in microseconds).
MIN_INTERVAL = 1e-6


@dataclass(frozen=True, slots=True)
class Window:
    """`limit` requests per window `slot` (an index of WINDOW_NAMES), in ticks."""

    slot: int
    limit: int
    interval: int  # ticks between two requests at the steady rate
    capacity: int  # interval * limit: how far ahead of now the TAT may run

    @classmethod
    def of(cls, slot: int, limit: int, ticks_per_second: int) -> Window:
        interval = WINDOW_SECONDS[slot] * ticks_per_second // limit
        if interval < 1:
            raise ValueError(f"{limit} requests per {WINDOW_NAMES[slot]} is finer than a tick")
        return cls(slot, limit, interval, interval * limit)

    @property
    def name(self) -> str:
        return WINDOW_NAMES[self.slot]


@dataclass(frozen=True, slots=True)
class WindowState:
    """What one window says after a decision: what is left and when it is whole again."""

    window: Window
    remaining: int  # requests that would be admitted now
    reset: int  # ticks until the window is whole again
    wait: int  # ticks until one more request is admitted (0: now)


def admit(window: Window, tat: int, now: int) -> int:
    """The window's new TAT if a request at `now` is admitted, else -1."""
    new_tat = (tat if tat > now else now) + window.interval
    return new_tat if new_tat - now <= window.capacity else -1


def state(window: Window, tat: int, now: int) -> WindowState:
    """The window's figures for a key whose TAT is `tat`, seen at `now`."""
    ahead = tat - now if tat > now else 0
    remaining = (window.capacity - ahead) // window.interval
    wait = 0 if remaining > 0 else ahead + window.interval - window.capacity
    return WindowState(window, remaining, ahead, wait)


def decide(
    windows: tuple[Window, ...], tats: list[int], now: int
) -> tuple[bool, list[int], list[WindowState]]:
    """Admit or refuse one request against every window at once.

    `tats[w.slot]` is each window's TAT. Returns whether it is admitted, the TATs to
    store (unchanged when refused) and each window's figures after the decision.
    """
    moved = list(tats)
    admitted = True
    for window in windows:
        new_tat = admit(window, tats[window.slot], now)
        if new_tat < 0:
            admitted = False
        else:
            moved[window.slot] = new_tat
    after = moved if admitted else tats
    return admitted, after, [state(window, after[window.slot], now) for window in windows]
