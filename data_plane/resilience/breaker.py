"""A circuit breaker of one target: a pure state machine, fed outcomes and the time.

It holds a failing target off for a while instead of sending it every request:
`failure_threshold` consecutive failed tries open it; an open breaker lets nothing
through until its recovery time has passed, then it is half-open and lets
`half_open_requests` trial requests through; a trial that succeeds closes it, one
that fails opens it again with the recovery time doubled, up to `MAX_RECOVERY_TIME`
(Envoy's outlier ejection grows the same way, to its 300 s maximum). A success in the
closed state clears the count of failures.

Like h11's state machine it does no I/O and reads no clock: every event carries `now`,
and the transitions are a table. The proxy tells it how each try ended (every outcome
of http/retry.py but OK is a failure: connect refused or timed out, a reset before the
response, a timeout, a 502/503/504, an unusable reply) and, when a trial request is
sent, has it count the trial (`trial`); the balancer reads whether the
target may be picked from the target itself (see `TargetBreakers`).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from data_plane.http.errors import CircuitOpen, NoHealthyTarget, ProxyError

if TYPE_CHECKING:
    from fleetgate_pb import config_pb2 as pb

    from data_plane.balancing import Balancer, Upstream
    from data_plane.metrics import TargetCounters

log = logging.getLogger("fleetgate.resilience")

# States, as the status report and /metrics name them
CLOSED = 0
OPEN = 1
HALF_OPEN = 2
STATES = ("closed", "open", "half_open")

# Events
TRIPPED = 0  # the failure threshold was reached
SUCCESS = 1
FAILURE = 2
RECOVERED = 3  # the recovery time has passed

MAX_RECOVERY_TIME = 300.0  # seconds; a recovery time set above it is kept as set

# (state, event) -> next state; an event absent from the table changes nothing (say, a
# try that began before the breaker opened and ends after: it was judged already).
_TRANSITIONS = {
    (CLOSED, TRIPPED): OPEN,
    (OPEN, RECOVERED): HALF_OPEN,
    (HALF_OPEN, SUCCESS): CLOSED,
    (HALF_OPEN, FAILURE): OPEN,
}


class CircuitBreaker:
    """The breaker of one target; `state` is CLOSED, OPEN or HALF_OPEN."""

    __slots__ = (
        "failure_threshold",
        "failures",
        "half_open_requests",
        "opened_at",
        "recovery",
        "recovery_time",
        "reopen_at",
        "state",
        "trial_at",
        "trials",
    )

    def __init__(
        self, failure_threshold: int, recovery_time: float, half_open_requests: int
    ) -> None:
        self.failure_threshold = max(1, failure_threshold)
        self.recovery_time = recovery_time  # as configured
        self.half_open_requests = max(1, half_open_requests)
        self.state = CLOSED
        self.failures = 0  # consecutive failures while closed
        self.recovery = recovery_time  # the current recovery time: doubles on each re-open
        self.opened_at = 0.0
        self.reopen_at = 0.0  # when an open breaker turns half-open
        self.trials = 0  # trial requests let through while half-open
        self.trial_at = 0.0  # when the last trial was let through

    @property
    def admits(self) -> bool:
        """Whether a new request may go to the target now."""
        state = self.state
        return state == CLOSED or (state == HALF_OPEN and self.trials < self.half_open_requests)

    def record(self, ok: bool, now: float) -> bool:
        """A try at the target ended, well (`ok`) or in a failure; True if the state changed."""
        if self.state == CLOSED:
            if ok:
                self.failures = 0
                return False
            self.failures += 1
            if self.failures < self.failure_threshold:
                return False
            return self._on(TRIPPED, now)
        return self._on(SUCCESS if ok else FAILURE, now)

    def tick(self, now: float) -> bool:
        """The time is `now`; True if the state changed (an open breaker turned half-open).

        A half-open breaker whose trials were all let through but never reported (the
        client went away mid-try) lets new trials through after another recovery time,
        so it cannot stay stuck.
        """
        if self.state == OPEN and now >= self.reopen_at:
            return self._on(RECOVERED, now)
        if self.state == HALF_OPEN and self.trials and now - self.trial_at >= self.recovery:
            self.trials = 0
            return True
        return False

    def trial(self, now: float) -> bool:
        """A request is sent to the half-open target; True once no more may follow it."""
        self.trials += 1
        self.trial_at = now
        return self.trials >= self.half_open_requests

    def reset(self) -> None:
        """Back to closed with no failures counted, whatever the state."""
        self.state = CLOSED
        self.failures = 0
        self.trials = 0
        self.recovery = self.recovery_time

    def retry_after(self, now: float) -> int:
        """Whole seconds (at least 1) until an open breaker lets a trial through."""
        return max(1, math.ceil(self.reopen_at - now))

    def _on(self, event: int, now: float) -> bool:
        state = self.state
        following = _TRANSITIONS.get((state, event))
        if following is None:
            return False
        self.state = following
        self.failures = 0
        self.trials = 0
        if following == OPEN:
            # Opened from closed: the configured time; re-opened after a failed trial:
            # twice the last one, capped.
            if state == CLOSED:
                self.recovery = self.recovery_time
            else:
                ceiling = max(MAX_RECOVERY_TIME, self.recovery_time)
                self.recovery = min(self.recovery * 2, ceiling)
            self.opened_at = now
            self.reopen_at = now + self.recovery
        elif following == CLOSED:
            self.recovery = self.recovery_time
        return True

    def __repr__(self) -> str:
        extra = ""
        if self.state == CLOSED:
            extra = f" failures={self.failures}/{self.failure_threshold}"
        elif self.state == OPEN:
            extra = f" until={self.reopen_at:g} recovery={self.recovery:g}"
        else:
            extra = f" trials={self.trials}/{self.half_open_requests}"
        return f"<CircuitBreaker {STATES[self.state]}{extra}>"


class TargetBreakers:
    """The breakers of a service's targets in one worker, and what they tell its balancer.

    A target whose breaker admits nothing is `tripped`, one that is half-open is
    `probing`; the balancer leaves tripped targets out of what it picks from, so a
    request never goes to an open target. State changes are rare: each one rebuilds
    the balancer and writes a log line.
    """

    __slots__ = ("_clock", "_counters", "balancer", "breakers", "held", "service", "states")

    def __init__(
        self,
        service: str,
        balancer: Balancer,
        settings: pb.CircuitBreaker,
        counters: Sequence[TargetCounters] = (),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.service = service
        self.balancer = balancer
        self._counters = counters  # by target index: where /metrics reads each state
        for target_counters in counters:
            target_counters.breaker = STATES[CLOSED]
        self.breakers = [
            CircuitBreaker(
                settings.failure_threshold, settings.recovery_time, settings.half_open_requests
            )
            for _ in balancer.targets
        ]
        self.states = [CLOSED] * len(self.breakers)  # by target index, read by /metrics
        self.held = 0  # breakers not closed
        self._clock = clock

    def record(self, target: Upstream, ok: bool) -> None:
        """A try at `target` ended, well or not."""
        breaker = self.breakers[target.index]
        if breaker.record(ok, self._clock()):
            self._changed(target, breaker)

    def trial(self, target: Upstream) -> None:
        """A request goes to the half-open `target`."""
        breaker = self.breakers[target.index]
        if breaker.trial(self._clock()):
            self._changed(target, breaker)

    def close(self, target: Upstream) -> None:
        """Close the breaker of `target`, whatever its state: its health checks pass again."""
        breaker = self.breakers[target.index]
        if breaker.state != CLOSED:
            breaker.reset()
            self._changed(target, breaker)

    def tick(self) -> None:
        """Open breakers whose recovery time is over turn half-open."""
        if not self.held:
            return
        now = self._clock()
        for target, breaker in zip(self.balancer.targets, self.breakers, strict=True):
            if breaker.state != CLOSED and breaker.tick(now):
                self._changed(target, breaker)

    def unavailable(self, retry_after: int = 1) -> ProxyError:
        """The 503 for a request that found no target to use, with its Retry-After:
        when the first open breaker lets a trial through, else `retry_after`."""
        now = self._clock()
        waits = [
            breaker.retry_after(now)
            for target, breaker in zip(self.balancer.targets, self.breakers, strict=True)
            if target.tripped and target.healthy and target.weight > 0
        ]
        if waits:
            return unavailable_error(self.service, min(waits), open_breakers=True)
        return unavailable_error(self.service, retry_after)

    def _changed(self, target: Upstream, breaker: CircuitBreaker) -> None:
        before = STATES[self.states[target.index]]
        self.held += (breaker.state != CLOSED) - (self.states[target.index] != CLOSED)
        self.states[target.index] = breaker.state
        if self._counters:
            self._counters[target.index].breaker = STATES[breaker.state]
        target.tripped = not breaker.admits
        target.probing = breaker.state == HALF_OPEN
        self.balancer.refresh()
        if before != STATES[breaker.state]:
            log.warning(
                "service %s target %s: circuit breaker %s -> %s%s",
                self.service,
                target.address,
                before,
                STATES[breaker.state],
                f" for {breaker.recovery:g} s" if breaker.state == OPEN else "",
            )

    def __repr__(self) -> str:
        shown = ", ".join(STATES[state] for state in self.states[:8])
        return f"<TargetBreakers {self.service} [{shown}]>"


def forget_retired(previous: Sequence[TargetBreakers], current: Sequence[TargetBreakers]) -> None:
    """After a config swap: the targets that no breaker of the config now served guards
    (their service is gone, or has no breaker any more) show no breaker state in /metrics."""
    kept = {id(counters) for breakers in current for counters in breakers._counters}
    for breakers in previous:
        for counters in breakers._counters:
            if id(counters) not in kept:
                counters.breaker = ""


def unavailable_error(service: str, retry_after: int, *, open_breakers: bool = False) -> ProxyError:
    """503 `circuit_open` when breakers hold every usable target off, else
    `no_healthy_target`; both with Retry-After in whole seconds."""
    fields = ((b"Retry-After", b"%d" % max(1, retry_after)),)
    if open_breakers:
        return CircuitOpen(f"the circuit of every target of {service} is open", headers=fields)
    return NoHealthyTarget(f"service {service} has no healthy target", headers=fields)
