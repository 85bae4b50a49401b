"""The circuit breaker of a target as a pure state machine, and what it tells the balancer
(DESIGN.md, "Resilience"; issue 13, point 2). No sockets, no sleeps: the clock is moved by
hand."""

from __future__ import annotations

import random

import pytest
from fleetgate_pb import config_pb2 as pb

from data_plane.balancing import make_balancer
from data_plane.http.errors import CircuitOpen, NoHealthyTarget
from data_plane.metrics import WorkerMetrics
from data_plane.resilience.breaker import (
    CLOSED,
    HALF_OPEN,
    MAX_RECOVERY_TIME,
    OPEN,
    CircuitBreaker,
    TargetBreakers,
    forget_retired,
)
from data_plane.resilience.report import TargetState, node_targets, worker_breakers

ALGORITHMS = [
    pb.ROUND_ROBIN,
    pb.WEIGHTED_ROUND_ROBIN,
    pb.LEAST_CONNECTIONS,
    pb.RANDOM,
    pb.EWMA,
    pb.CONSISTENT_HASH,
]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def tripped(breaker: CircuitBreaker, now: float = 0.0) -> CircuitBreaker:
    for _ in range(breaker.failure_threshold):
        breaker.record(False, now)
    return breaker


# ---------------------------------------------------------------- the state machine


def test_consecutive_failures_up_to_the_threshold_open_it() -> None:
    breaker = CircuitBreaker(3, 10.0, 1)
    assert not breaker.record(False, 0.0)
    assert not breaker.record(False, 0.0)
    assert breaker.state == CLOSED and breaker.admits
    assert breaker.record(False, 0.0)
    assert breaker.state == OPEN and not breaker.admits
    assert repr(breaker) == "<CircuitBreaker open until=10 recovery=10>"


def test_a_success_clears_the_count_of_failures() -> None:
    breaker = CircuitBreaker(3, 10.0, 1)
    breaker.record(False, 0.0)
    breaker.record(False, 0.0)
    breaker.record(True, 0.0)
    breaker.record(False, 0.0)
    breaker.record(False, 0.0)
    assert breaker.state == CLOSED
    assert repr(breaker) == "<CircuitBreaker closed failures=2/3>"


def test_it_stays_open_until_the_recovery_time_has_passed() -> None:
    breaker = tripped(CircuitBreaker(2, 10.0, 1), now=100.0)
    assert not breaker.tick(109.9)
    assert breaker.state == OPEN
    assert breaker.tick(110.0)
    assert breaker.state == HALF_OPEN and breaker.admits


def test_outcomes_of_tries_begun_before_it_opened_change_nothing_while_open() -> None:
    breaker = tripped(CircuitBreaker(2, 10.0, 1))
    assert not breaker.record(True, 1.0)
    assert not breaker.record(False, 1.0)
    assert breaker.state == OPEN and breaker.reopen_at == 10.0


def test_half_open_lets_exactly_half_open_requests_through() -> None:
    breaker = tripped(CircuitBreaker(1, 5.0, 3))
    breaker.tick(5.0)
    assert not breaker.trial(5.0)
    assert not breaker.trial(5.0)
    assert breaker.admits
    assert breaker.trial(5.0)
    assert not breaker.admits
    assert repr(breaker) == "<CircuitBreaker half_open trials=3/3>"


def test_a_successful_trial_closes_it_and_restores_the_recovery_time() -> None:
    breaker = tripped(CircuitBreaker(1, 5.0, 1))
    breaker.tick(5.0)
    breaker.trial(5.0)
    breaker.record(False, 5.1)  # re-opened for 10 s
    breaker.tick(15.1)
    breaker.trial(15.1)
    assert breaker.record(True, 15.2)
    assert breaker.state == CLOSED and breaker.recovery == 5.0
    tripped(breaker, now=20.0)
    assert breaker.reopen_at == 25.0


def test_a_failed_trial_reopens_it_with_the_recovery_time_doubled() -> None:
    breaker = tripped(CircuitBreaker(1, 5.0, 1))
    breaker.tick(5.0)
    breaker.trial(5.0)
    assert breaker.record(False, 6.0)
    assert breaker.state == OPEN and breaker.recovery == 10.0 and breaker.reopen_at == 16.0
    breaker.tick(16.0)
    breaker.record(False, 16.0)
    assert breaker.recovery == 20.0


def test_the_doubled_recovery_time_is_capped() -> None:
    breaker = tripped(CircuitBreaker(1, 100.0, 1))
    now = 0.0
    for _ in range(6):
        now = breaker.reopen_at
        breaker.tick(now)
        breaker.record(False, now)
    assert breaker.recovery == MAX_RECOVERY_TIME


def test_a_recovery_time_above_the_cap_is_kept_as_set() -> None:
    breaker = tripped(CircuitBreaker(1, 600.0, 1))
    breaker.tick(600.0)
    breaker.record(False, 600.0)
    assert breaker.recovery == 600.0


def test_trials_never_reported_are_let_through_again_after_a_recovery_time() -> None:
    breaker = tripped(CircuitBreaker(1, 5.0, 1))
    breaker.tick(5.0)
    breaker.trial(5.0)  # the client went away: no outcome ever comes
    assert not breaker.admits
    assert not breaker.tick(9.9)
    assert breaker.tick(10.0)
    assert breaker.state == HALF_OPEN and breaker.admits


def test_retry_after_is_whole_seconds_until_the_first_trial() -> None:
    breaker = tripped(CircuitBreaker(1, 2.5, 1), now=10.0)
    assert breaker.retry_after(10.0) == 3
    assert breaker.retry_after(12.4) == 1
    assert breaker.retry_after(20.0) == 1


# ---------------------------------------------------------------- with a balancer


def guarded(
    algorithm: int, count: int = 2, *, threshold: int = 2, recovery: float = 10.0, trials: int = 1
) -> tuple[TargetBreakers, Clock, WorkerMetrics]:
    service = pb.Service(
        name="svc",
        load_balancer=algorithm,
        targets=[pb.Target(address=f"10.0.0.{i + 1}:80", weight=1) for i in range(count)],
    )
    balancer = make_balancer(service, rng=random.Random(3))
    settings = pb.CircuitBreaker(
        enabled=True,
        failure_threshold=threshold,
        recovery_time=recovery,
        half_open_requests=trials,
    )
    clock = Clock()
    metrics = WorkerMetrics()
    counters = [metrics.target("svc", t.address) for t in balancer.targets]
    return TargetBreakers("svc", balancer, settings, counters, clock), clock, metrics


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_an_open_target_is_never_picked(algorithm: int) -> None:
    breakers, _, _ = guarded(algorithm, 3)
    dead = breakers.balancer.targets[1]
    breakers.record(dead, False)
    breakers.record(dead, False)
    picks = {breakers.balancer.pick(key=f"client-{i}") for i in range(300)}
    assert dead not in picks and None not in picks


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_a_half_open_target_is_picked_for_its_trials_only(algorithm: int) -> None:
    breakers, clock, _ = guarded(algorithm, 1, trials=2)
    balancer = breakers.balancer
    target = balancer.targets[0]
    breakers.record(target, False)
    breakers.record(target, False)
    assert balancer.pick() is None
    clock.now += 10.0
    breakers.tick()
    assert target.probing
    for _ in range(2):
        assert balancer.pick() is target
        breakers.trial(target)
    assert balancer.pick() is None
    breakers.record(target, True)
    assert balancer.pick() is target and not target.probing and not target.tripped


def test_with_every_target_open_the_answer_is_circuit_open_with_retry_after() -> None:
    breakers, clock, _ = guarded(pb.ROUND_ROBIN, 2, recovery=7.5)
    for target in breakers.balancer.targets:
        breakers.record(target, False)
        breakers.record(target, False)
        clock.now += 1.0
    error = breakers.unavailable()
    assert isinstance(error, CircuitOpen)
    assert (error.status, error.code) == (503, "circuit_open")
    assert error.headers == ((b"Retry-After", b"6"),)  # the first lets a trial in 5.5 s


def test_with_every_target_down_the_answer_is_no_healthy_target() -> None:
    breakers, _, _ = guarded(pb.ROUND_ROBIN, 2)
    for target in breakers.balancer.targets:
        breakers.balancer.set_healthy(target, False)
    error = breakers.unavailable(retry_after=4)
    assert isinstance(error, NoHealthyTarget)
    assert (error.status, error.code, error.headers) == (
        503,
        "no_healthy_target",
        ((b"Retry-After", b"4"),),
    )


def test_state_changes_reach_the_metrics_and_the_log(caplog: pytest.LogCaptureFixture) -> None:
    breakers, clock, metrics = guarded(pb.ROUND_ROBIN, 2, threshold=1)
    target = breakers.balancer.targets[0]
    with caplog.at_level("WARNING", logger="fleetgate.resilience"):
        breakers.record(target, False)
        clock.now += 10.0
        breakers.tick()
    states = {
        tuple(labels.values()): value
        for name, labels, value in metrics.samples()["values"]
        if name == "fleetgate_target_breaker"
    }
    assert states == {("svc", "10.0.0.1:80", "half_open"): 1, ("svc", "10.0.0.2:80", "closed"): 1}
    assert [r.getMessage() for r in caplog.records] == [
        "service svc target 10.0.0.1:80: circuit breaker closed -> open for 10 s",
        "service svc target 10.0.0.1:80: circuit breaker open -> half_open",
    ]
    assert repr(breakers) == "<TargetBreakers svc [half_open, closed]>"


# ---------------------------------------------------------------- in the status report


def test_a_worker_reports_every_breaker_state_and_the_node_the_worst_with_health() -> None:
    breakers, _, _ = guarded(pb.ROUND_ROBIN, 2, threshold=1)
    breakers.record(breakers.balancer.targets[1], False)
    reported = worker_breakers([breakers])
    assert reported == [["svc", "10.0.0.1:80", "closed"], ["svc", "10.0.0.2:80", "open"]]
    other_worker = [["svc", "10.0.0.1:80", "half_open"], ["svc", "10.0.0.2:80", "closed"]]
    health = {("svc", "10.0.0.2:80"): False, ("checked", "10.0.0.9:80"): True}
    assert node_targets(health, [reported, other_worker]) == (
        TargetState("checked", "10.0.0.9:80", True, ""),
        TargetState("svc", "10.0.0.1:80", True, "half_open"),
        TargetState("svc", "10.0.0.2:80", False, "open"),
    )


def test_targets_no_breaker_guards_after_a_swap_show_no_breaker_state() -> None:
    old, _, metrics = guarded(pb.ROUND_ROBIN, 2, threshold=1)
    old.record(old.balancer.targets[1], False)
    # The new config keeps a breaker on the first target only (the second was removed).
    service = pb.Service(name="svc", targets=[pb.Target(address="10.0.0.1:80", weight=1)])
    balancer = make_balancer(service)
    settings = pb.CircuitBreaker(
        enabled=True, failure_threshold=1, recovery_time=1, half_open_requests=1
    )
    new = TargetBreakers("svc", balancer, settings, [metrics.target("svc", "10.0.0.1:80")])
    forget_retired([old], [new])
    states = [
        (labels["target"], labels["state"])
        for name, labels, _ in metrics.samples()["values"]
        if name == "fleetgate_target_breaker"
    ]
    assert states == [("10.0.0.1:80", "closed")]
