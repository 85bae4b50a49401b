"""Rate limits and tiers that could not mean what they say are refused at the admin API."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from .conftest import ok, store_state

ROUTE = {"name": "limited", "paths": ["/limited/**"], "service": "users"}

REFUSED: dict[str, tuple[str, dict[str, Any], str]] = {
    "a limit of 0": (
        "/api/v1/routes",
        {**ROUTE, "rate_limit": {"requests_per_minute": 0}},
        "greater than or equal to 1",
    ),
    "a tier window of 0": ("/api/v1/tiers", {"name": "ZERO", "requests_per_day": 0}, "1"),
    "finer than a microsecond": (
        "/api/v1/routes",
        {**ROUTE, "rate_limit": {"requests_per_second": 2_000_000}},
        "more than 1,000,000 requests per second",
    ),
    "a longer window below a shorter one": (
        "/api/v1/tiers",
        {"name": "ODD", "requests_per_second": 100, "requests_per_hour": 10},
        "requests_per_hour (10) is below requests_per_second (100)",
    ),
    "a limit that limits nothing": (
        "/api/v1/routes",
        {**ROUTE, "rate_limit": {"use_tier": False}},
        "limits nothing",
    ),
    "a deadline over a second": (
        "/api/v1/routes",
        {**ROUTE, "rate_limit": {"requests_per_minute": 5, "decision_deadline": 30}},
        "decision_deadline",
    ),
    "an unknown fail mode": (
        "/api/v1/routes",
        {**ROUTE, "rate_limit": {"requests_per_minute": 5, "fail_mode": "maybe"}},
        "fail_mode",
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_a_senseless_limit_is_refused_with_a_message_saying_why(
    seeded: TestClient, case: str
) -> None:
    path, body, says = REFUSED[case]
    before = store_state(seeded)
    error = ok(seeded.post(path, json=body), 422)["error"]
    assert says in error["message"], error
    assert store_state(seeded) == before


def test_a_tier_only_rate_limit_and_sensible_windows_are_accepted(seeded: TestClient) -> None:
    ok(seeded.post("/api/v1/routes", json={**ROUTE, "rate_limit": {"use_tier": True}}), 201)
    tier = {"name": "OK", "requests_per_second": 10, "requests_per_minute": 600}
    ok(seeded.post("/api/v1/tiers", json=tier), 201)
