"""Retries: whether a failed try is tried again, after how long, and how many may be.

Pure, like h11's state machine: `RetryPolicy.decide` maps what is known about the
request and how its try failed to an action, `RetryBudget` counts with the clock it is
given. The exchange asks them and does the I/O.

The rules (DESIGN.md, "HTTP correctness at the edge" and "Resilience"):
- Nothing is tried again once a response byte reached the client.
- A failed connect sent nothing: tried again for every method, within `retries`.
- A reset before the response, a 502 or 503 answer, or a try out of its per-try time:
  tried again within `retries` when the request can be sent whole again (no body, or
  a body of at most `HELD_BODY` bytes still held) and its method is idempotent, or the
  service says `retry_non_idempotent`.
- An idempotent request whose pooled connection turns out closed is sent once more on a
  fresh connection, at once: the transport's own retry, outside `retries` and the
  budget (a keep-alive race, not a failing upstream).
- Read timeouts, total timeouts, 504 answers and unusable replies are never retried.
- A service retry waits a jittered, exponential backoff (25 ms doubling to 250 ms) and
  goes to another target when there is one, and only while the budget allows.
"""

from __future__ import annotations

import random
from collections import deque
from typing import NamedTuple

from data_plane.sync.backoff import jittered_delay

# How one try ended, as the retry policy and the target reports name it (plain ints:
# they index `ServiceCounters.outcomes`; OUTCOMES names them in /metrics).
OK = 0
CONNECT_FAILED = 1  # refused or unreachable: nothing was sent
CONNECT_TIMEOUT = 2
RESET = 3  # the connection closed or reset before the response came
UNAVAILABLE = 4  # the upstream answered 502 or 503
GATEWAY_TIMEOUT = 5  # the upstream answered 504
PER_TRY_TIMEOUT = 6  # no response head within the per-try time
READ_TIMEOUT = 7
BAD_RESPONSE = 8  # a reply the gateway cannot use
OUTCOMES = (
    "ok",
    "connect_failed",
    "connect_timeout",
    "reset",
    "unavailable",
    "gateway_timeout",
    "per_try_timeout",
    "read_timeout",
    "bad_response",
)


def answered(status: int) -> int:
    """The outcome of a try that the upstream answered with `status`."""
    if 502 <= status <= 503:
        return UNAVAILABLE
    return GATEWAY_TIMEOUT if status == 504 else OK


# What to do about a failed try
FAIL = 0  # answer the client with the failure
FRESH = 1  # the transport's retry: at once, on a new connection, not counted in `retries`
RETRY = 2  # a service retry: after a backoff, on another target, paid from the budget

# The largest request body kept to be sent again (DESIGN.md: "while the request body
# is still held (≤ 64 KiB)"); Envoy buffers 64 KiB for retries by default too.
HELD_BODY = 64 * 1024
BACKOFF_BASE = 0.025
BACKOFF_CAP = 0.25
IDEMPOTENT = frozenset({b"GET", b"HEAD", b"OPTIONS", b"TRACE", b"PUT", b"DELETE"})

_NOTHING_SENT = frozenset({CONNECT_FAILED, CONNECT_TIMEOUT})
_SENT_AGAIN = frozenset({RESET, UNAVAILABLE, PER_TRY_TIMEOUT})


class TryState(NamedTuple):
    """What the policy needs to know about a request whose try just failed."""

    retries: int  # service retries made so far
    answered: bool  # a response byte reached the client
    replayable: bool  # the whole request can be sent again: no body, or its body held
    idempotent: bool  # by its method
    reused: bool  # the failed try ran on a connection from the pool
    fresh_retried: bool  # the transport's one retry is spent


class RetryPolicy:
    """A service's retry settings, and the decision they make for each failed try."""

    __slots__ = ("_rng", "non_idempotent", "retries")

    def __init__(
        self, retries: int, *, non_idempotent: bool = False, rng: random.Random | None = None
    ) -> None:
        self.retries = retries
        self.non_idempotent = non_idempotent  # the service's `retry_non_idempotent`
        self._rng = rng or random.Random()

    def decide(self, state: TryState, failure: int) -> int:
        """FAIL, FRESH or RETRY for a try that ended with `failure`."""
        if state.answered:
            return FAIL
        if failure in _NOTHING_SENT:
            return RETRY if state.retries < self.retries else FAIL
        if failure not in _SENT_AGAIN or not state.replayable:
            return FAIL
        if failure == RESET and state.reused and state.idempotent and not state.fresh_retried:
            return FRESH
        if not (state.idempotent or self.non_idempotent):
            return FAIL
        return RETRY if state.retries < self.retries else FAIL

    def replays(self, method: bytes) -> bool:
        """Whether a request of `method` is ever sent again once bytes of it went out:
        only then is its body worth holding."""
        return method in IDEMPOTENT or (self.non_idempotent and self.retries > 0)

    def backoff(self, retry: int) -> float:
        """Seconds to wait before service retry number `retry` (0 for the first)."""
        return jittered_delay(BACKOFF_BASE, BACKOFF_CAP, retry, self._rng)

    def __repr__(self) -> str:
        extra = " non-idempotent too" if self.non_idempotent else ""
        return f"<RetryPolicy retries={self.retries}{extra}>"


class RetryBudget:
    """How many retries a service may make: a share of its requests plus a steady rate.

    Finagle's RetryBudget is the model: over the last `window` seconds, retries are at
    most `ratio` of the requests, plus `per_second` for a service with little traffic
    (a token bucket holding at most `max(1, per_second)` tokens). So under a retry storm
    an upstream sees at most 1.2x the requests plus a few, never 1 + `retries` times.

    The exchange counts each request in `requests` (one increment); `roll` runs once a
    second from the worker's tick and starts a new second of the window.
    """

    __slots__ = (
        "_filled_at",
        "_marks",
        "_spent",
        "_tokens",
        "burst",
        "per_second",
        "ratio",
        "requests",
    )

    def __init__(
        self, *, ratio: float = 0.2, per_second: float = 3.0, window: int = 10, now: float = 0.0
    ) -> None:
        self.ratio = ratio
        self.per_second = per_second
        self.burst = max(1.0, per_second)
        self.requests = 0  # requests of the service so far (first tries)
        self._spent = 0  # retries paid from the ratio share so far
        # (requests, spent) at the start of each second of the window, oldest first
        self._marks: deque[tuple[int, int]] = deque([(0, 0)], maxlen=window)
        self._tokens = self.burst
        self._filled_at = now

    def roll(self) -> None:
        """A second has passed: the oldest second leaves the window."""
        self._marks.append((self.requests, self._spent))

    def withdraw(self, now: float) -> bool:
        """Pay for one retry; False when the budget is spent."""
        requests, spent = self._marks[0]
        if self._spent - spent + 1 <= self.ratio * (self.requests - requests):
            self._spent += 1
            return True
        tokens = min(self.burst, self._tokens + (now - self._filled_at) * self.per_second)
        self._filled_at = now
        if tokens >= 1.0:
            self._tokens = tokens - 1.0
            return True
        self._tokens = tokens
        return False

    def __repr__(self) -> str:
        requests, spent = self._marks[0]
        return (
            f"<RetryBudget {self.ratio:.0%} of {self.requests - requests} requests"
            f" (spent {self._spent - spent}) + {self.per_second:g}/s"
            f" (tokens {self._tokens:.2f})>"
        )
