"""The rate_limit policy without sockets: keys, tier windows, answers and fields."""

from __future__ import annotations

from typing import Any

from data_plane.config.model import GatewayConfig
from data_plane.config.snapshot import build_snapshot
from data_plane.http.errors import TooManyRequests
from data_plane.http.request import RequestHead
from data_plane.limits.policy import Limiters, LimitsContext, LocalBackend, RateLimitPolicy
from data_plane.limits.table import KeyTable
from data_plane.metrics import WorkerMetrics
from data_plane.policies import Call

S = 1_000_000_000


class Clock:
    def __init__(self) -> None:
        self.now = 1_000 * S

    def __call__(self) -> int:
        return self.now


def make(rate_limit: dict[str, Any], **extra: Any) -> tuple[RateLimitPolicy, Clock, WorkerMetrics]:
    config = GatewayConfig.model_validate(
        {
            "services": [{"name": "app", "targets": [{"address": "127.0.0.1:1"}]}],
            "routes": [{"name": "r", "paths": ["/**"], "service": "app", "rate_limit": rate_limit}],
            **extra,
        }
    )
    snapshot = build_snapshot(config)
    clock = Clock()
    metrics = WorkerMetrics()
    limiters = Limiters(LocalBackend(KeyTable.private(1024), clock))
    context = LimitsContext(limiters, snapshot, metrics)
    return RateLimitPolicy("r", snapshot.routes[0].rate_limit, context), clock, metrics


def call(client: str = "10.0.0.1", consumer: str | None = None, tenant: str | None = None) -> Call:
    c = Call(RequestHead(b"GET", b"/", b"1.1", True), client, b"")
    c.consumer = consumer
    c.tenant = tenant
    return c


def fields(c: Call) -> dict[bytes, bytes]:
    return dict(c.response_fields)


TIERS = {
    "tiers": [
        {"name": "FREE", "requests_per_minute": 2},
        {"name": "PRO", "requests_per_minute": 1000, "requests_per_second": 50},
    ],
    "tenants": [{"name": "acme", "tier": "FREE"}, {"name": "globex", "tier": "PRO"}],
}


def test_by_client_ip_each_address_has_its_own_allowance() -> None:
    policy, _, _ = make({"requests_per_minute": 2, "by": "client_ip"})
    assert [policy.on_request(call("10.0.0.1")) for _ in range(2)] == [None, None]
    assert isinstance(policy.on_request(call("10.0.0.1")), TooManyRequests)
    assert policy.on_request(call("10.0.0.2")) is None


def test_by_route_every_caller_shares_one_allowance() -> None:
    policy, _, _ = make({"requests_per_minute": 2, "by": "route"})
    assert policy.on_request(call("10.0.0.1")) is None
    assert policy.on_request(call("10.0.0.2")) is None
    assert isinstance(policy.on_request(call("10.0.0.3")), TooManyRequests)


def test_by_consumer_keys_on_the_consumer_and_on_the_address_when_anonymous() -> None:
    policy, _, _ = make({"requests_per_minute": 1, "by": "consumer", "use_tier": False})
    assert policy.on_request(call("10.0.0.1", consumer="alice")) is None
    assert policy.on_request(call("10.0.0.2", consumer="bob")) is None
    assert isinstance(policy.on_request(call("10.0.0.9", consumer="alice")), TooManyRequests)
    assert policy.on_request(call("10.0.0.1")) is None  # anonymous: its address


def test_a_refusal_is_a_429_with_retry_after_in_whole_seconds() -> None:
    policy, clock, _ = make({"requests_per_minute": 2, "by": "client_ip"})
    policy.on_request(call())
    policy.on_request(call())
    clock.now += S // 10
    refused = policy.on_request(call())
    assert isinstance(refused, TooManyRequests)
    assert (refused.status, refused.code) == (429, "rate_limited")
    assert dict(refused.headers) == {b"Retry-After": b"30"}  # 29.9 s rounded up
    clock.now += 30 * S
    assert policy.on_request(call()) is None


def test_every_answer_carries_the_policy_and_the_tightest_window() -> None:
    policy, _, _ = make({"requests_per_second": 10, "requests_per_minute": 12, "by": "client_ip"})
    c = call()
    assert policy.on_request(c) is None
    assert fields(c) == {
        b"RateLimit-Policy": b'"second";q=10;w=1, "minute";q=12;w=60',
        b"RateLimit": b'"second";r=9;t=1',
    }
    for _ in range(8):
        policy.on_request(call())
    c = call()
    policy.on_request(c)  # the tenth: 0 left this second, 2 this minute
    assert fields(c)[b"RateLimit"] == b'"second";r=0;t=1'
    c = call()
    assert isinstance(policy.on_request(c), TooManyRequests)
    assert b"RateLimit-Policy" in fields(c)


def test_with_use_tier_the_tenant_shares_its_tier_windows_across_consumers() -> None:
    policy, _, _ = make({"requests_per_minute": 100, "by": "consumer", "use_tier": True}, **TIERS)
    assert policy.on_request(call(consumer="a", tenant="acme")) is None
    assert policy.on_request(call(consumer="b", tenant="acme")) is None
    c = call(consumer="c", tenant="acme")
    assert isinstance(policy.on_request(c), TooManyRequests)
    assert fields(c)[b"RateLimit"] == b'"FREE-minute";r=0;t=60'
    assert policy.on_request(call(consumer="d", tenant="globex")) is None


def test_the_tier_windows_are_listed_after_the_route_windows() -> None:
    policy, _, _ = make({"requests_per_minute": 100, "use_tier": True}, **TIERS)
    c = call(consumer="a", tenant="globex")
    policy.on_request(c)
    assert fields(c)[b"RateLimit-Policy"] == (
        b'"minute";q=100;w=60, "PRO-second";q=50;w=1, "PRO-minute";q=1000;w=60'
    )


def test_without_a_tenant_only_the_route_windows_apply() -> None:
    policy, _, _ = make({"requests_per_minute": 3, "use_tier": True}, **TIERS)
    for _ in range(3):
        assert policy.on_request(call(consumer="x")) is None


def test_decisions_are_counted_by_policy_and_outcome() -> None:
    policy, _, metrics = make({"requests_per_minute": 1, "by": "client_ip"})
    policy.on_request(call())
    policy.on_request(call())
    samples = {
        (name, labels["policy"], labels["outcome"]): value
        for name, labels, value in metrics.samples()["values"]
        if name == "fleetgate_rate_limit_decisions_total"
    }
    assert samples == {
        ("fleetgate_rate_limit_decisions_total", "rate_limit", "admitted"): 1,
        ("fleetgate_rate_limit_decisions_total", "rate_limit", "refused"): 1,
    }


def test_quotas_count_per_utc_calendar_month() -> None:
    from datetime import UTC, datetime

    from data_plane.limits.policy import month_of, next_month

    last_second = datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp()
    assert month_of(last_second) + 1 == month_of(last_second + 1)
    assert next_month(last_second) == datetime(2027, 1, 1, tzinfo=UTC).timestamp()


def test_a_quota_used_up_in_one_month_is_whole_again_in_the_next() -> None:
    from datetime import UTC, datetime

    from data_plane.http.errors import QuotaExceeded
    from data_plane.limits.policy import month_of

    quota_tiers = {
        "tiers": [{"name": "METERED", "monthly_quota": 1}],
        "tenants": [{"name": "meter", "tier": "METERED"}],
    }
    policy, _, _ = make({"use_tier": True}, **quota_tiers)
    now = [datetime(2026, 12, 31, 23, 59, 58, tzinfo=UTC).timestamp()]
    policy.wall_clock = lambda: now[0]

    def decide() -> object:
        c = call(consumer="m", tenant="meter")
        verdict = policy.on_request(c)
        c.end()
        return verdict

    assert decide() is None
    assert isinstance(decide(), QuotaExceeded)
    now[0] += 2  # 2027-01-01 00:00:00
    assert decide() is None
    assert isinstance(decide(), QuotaExceeded)
    assert policy._month_of(now[0] - 2) == month_of(now[0] - 2)  # a clock set back


def test_priorities_give_the_lowest_tier_half_a_service_and_the_highest_all_of_it() -> None:
    from data_plane.limits.bulkhead import Priorities

    config = GatewayConfig.model_validate(
        {
            "tiers": [
                {"name": "FREE", "priority": 0},
                {"name": "BASIC", "priority": 5},
                {"name": "PRO", "priority": 50},
            ]
        }
    )
    priorities = Priorities(build_snapshot(config))
    assert [priorities.of(t) for t in ("FREE", "BASIC", "PRO", None)] == [0.5, 0.75, 1.0, 0.5]
    assert Priorities(None).of(None) == 1.0  # no tiers: nobody is shed early
