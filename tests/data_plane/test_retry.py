"""Retry decisions, backoff and the retry budget, without sockets or sleeps."""

from __future__ import annotations

import random

import pytest

from data_plane.http.retry import (
    BACKOFF_BASE,
    BACKOFF_CAP,
    BAD_RESPONSE,
    CONNECT_FAILED,
    CONNECT_TIMEOUT,
    FAIL,
    FRESH,
    GATEWAY_TIMEOUT,
    OK,
    OUTCOMES,
    PER_TRY_TIMEOUT,
    READ_TIMEOUT,
    RESET,
    RETRY,
    UNAVAILABLE,
    RetryBudget,
    RetryPolicy,
    TryState,
    answered,
)


def tried(
    *,
    retries: int = 0,
    answered: bool = False,
    replayable: bool = True,
    idempotent: bool = True,
    reused: bool = False,
    fresh_retried: bool = False,
) -> TryState:
    return TryState(retries, answered, replayable, idempotent, reused, fresh_retried)


# ---------------------------------------------------------------- the policy


def test_nothing_is_retried_once_a_response_byte_reached_the_client() -> None:
    policy = RetryPolicy(3, non_idempotent=True)
    for failure in (CONNECT_FAILED, RESET, UNAVAILABLE, PER_TRY_TIMEOUT):
        assert policy.decide(tried(answered=True, reused=True), failure) == FAIL


@pytest.mark.parametrize("failure", [CONNECT_FAILED, CONNECT_TIMEOUT])
def test_a_failed_connect_is_retried_for_every_method_within_retries(failure: int) -> None:
    policy = RetryPolicy(2)
    post = tried(idempotent=False, replayable=False)
    assert policy.decide(post, failure) == RETRY
    assert policy.decide(post._replace(retries=1), failure) == RETRY
    assert policy.decide(post._replace(retries=2), failure) == FAIL


@pytest.mark.parametrize("failure", [RESET, UNAVAILABLE, PER_TRY_TIMEOUT])
def test_a_sent_idempotent_request_is_retried_within_retries(failure: int) -> None:
    policy = RetryPolicy(1)
    assert policy.decide(tried(), failure) == RETRY
    assert policy.decide(tried(retries=1), failure) == FAIL


@pytest.mark.parametrize("failure", [RESET, UNAVAILABLE, PER_TRY_TIMEOUT])
def test_a_sent_post_is_retried_only_when_the_service_says_so(failure: int) -> None:
    post = tried(idempotent=False)
    assert RetryPolicy(2).decide(post, failure) == FAIL
    assert RetryPolicy(2, non_idempotent=True).decide(post, failure) == RETRY


@pytest.mark.parametrize("failure", [RESET, UNAVAILABLE, PER_TRY_TIMEOUT])
def test_a_request_whose_body_is_no_longer_held_is_not_sent_again(failure: int) -> None:
    policy = RetryPolicy(2, non_idempotent=True)
    assert policy.decide(tried(replayable=False), failure) == FAIL
    assert policy.decide(tried(replayable=False, reused=True), failure) == FAIL


@pytest.mark.parametrize("failure", [READ_TIMEOUT, GATEWAY_TIMEOUT, BAD_RESPONSE])
def test_read_timeouts_504_answers_and_unusable_replies_are_never_retried(failure: int) -> None:
    assert RetryPolicy(5, non_idempotent=True).decide(tried(reused=True), failure) == FAIL


def test_a_reset_on_a_pooled_connection_is_sent_once_more_on_a_fresh_one() -> None:
    policy = RetryPolicy(0)
    assert policy.decide(tried(reused=True), RESET) == FRESH
    # Only once, only for a reset, only for an idempotent request.
    assert policy.decide(tried(reused=True, fresh_retried=True), RESET) == FAIL
    assert policy.decide(tried(reused=True), UNAVAILABLE) == FAIL
    post = tried(reused=True, idempotent=False)
    assert RetryPolicy(0, non_idempotent=True).decide(post, RESET) == FAIL


def test_the_transports_retry_comes_before_the_services() -> None:
    assert RetryPolicy(3).decide(tried(reused=True), RESET) == FRESH
    assert RetryPolicy(3).decide(tried(reused=True, fresh_retried=True), RESET) == RETRY


def test_a_body_is_worth_holding_only_for_a_request_that_may_be_sent_again() -> None:
    assert RetryPolicy(0).replays(b"PUT")  # the transport's retry
    assert not RetryPolicy(3).replays(b"POST")
    assert not RetryPolicy(0, non_idempotent=True).replays(b"POST")
    assert RetryPolicy(1, non_idempotent=True).replays(b"PATCH")


def test_outcomes_of_answers_and_their_names() -> None:
    assert [answered(s) for s in (200, 404, 500, 502, 503, 504)] == [
        OK,
        OK,
        OK,
        UNAVAILABLE,
        UNAVAILABLE,
        GATEWAY_TIMEOUT,
    ]
    assert (OUTCOMES[OK], OUTCOMES[RESET], OUTCOMES[PER_TRY_TIMEOUT]) == (
        "ok",
        "reset",
        "per_try_timeout",
    )


# ---------------------------------------------------------------- backoff


def test_backoff_doubles_from_25_ms_to_at_most_250_ms_with_jitter() -> None:
    policy = RetryPolicy(10, rng=random.Random(7))
    for retry in range(8):
        ceiling = min(BACKOFF_CAP, BACKOFF_BASE * 2**retry)
        delays = [policy.backoff(retry) for _ in range(200)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert max(delays) - min(delays) > ceiling / 4  # jittered, not one value
    assert (BACKOFF_BASE, BACKOFF_CAP) == (0.025, 0.25)


# ---------------------------------------------------------------- the budget


def spend(budget: RetryBudget, now: float, tries: int) -> int:
    return sum(budget.withdraw(now) for _ in range(tries))


def test_a_quiet_service_may_retry_a_burst_of_its_steady_rate() -> None:
    budget = RetryBudget(ratio=0.2, per_second=3.0, now=0.0)
    assert spend(budget, 0.0, 10) == 3


def test_the_steady_rate_refills_with_time_and_no_faster() -> None:
    budget = RetryBudget(ratio=0.2, per_second=3.0, now=0.0)
    spend(budget, 0.0, 3)
    assert spend(budget, 0.5, 10) == 1  # 1.5 tokens came back
    assert spend(budget, 10.0, 10) == 3  # never more than a burst's worth


def test_retries_are_a_fifth_of_the_requests_beyond_the_steady_rate() -> None:
    budget = RetryBudget(ratio=0.2, per_second=0.0001, now=0.0)
    budget.withdraw(0.0)  # the one token of the steady rate
    budget.requests += 1000
    assert spend(budget, 0.0, 1000) == 200


def test_the_share_counts_the_requests_and_retries_of_the_last_ten_seconds() -> None:
    budget = RetryBudget(ratio=0.2, per_second=0.0001, window=10, now=0.0)
    budget.withdraw(0.0)  # the steady rate's one token
    budget.requests += 100
    for _ in range(9):
        budget.roll()
    assert spend(budget, 9.0, 1) == 1  # nine seconds on, the requests still count
    budget.roll()
    assert spend(budget, 10.0, 50) == 0  # ten seconds on, they do not
    budget.requests += 10
    # 20% of the 10 new requests, less the retry still inside the window
    assert spend(budget, 10.0, 50) == 1


def test_a_storm_is_held_to_the_budget_over_time() -> None:
    """1,000 requests a second, every one failing, for 30 s: the retries allowed are at
    most 20% of the requests plus 3 a second (plus the one burst)."""
    budget = RetryBudget(ratio=0.2, per_second=3.0, now=0.0)
    allowed = 0
    for second in range(30):
        for i in range(1000):
            budget.requests += 1
            allowed += budget.withdraw(second + i / 1000)
        budget.roll()
    assert allowed <= 0.2 * 30_000 + 3 * 30 + 3
    assert allowed >= 0.2 * 30_000  # and the share is really there


def test_a_budget_shows_its_state() -> None:
    budget = RetryBudget(ratio=0.2, per_second=1.5, now=0.0)
    budget.requests += 10
    assert repr(budget) == "<RetryBudget 20% of 10 requests (spent 0) + 1.5/s (tokens 1.50)>"
