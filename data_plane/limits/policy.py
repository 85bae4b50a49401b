"""The rate_limit policy of a route: its windows and its caller's tier windows, per request.

Built once per route when a snapshot is compiled. Per request it names the key the
route's windows count under (`by`: the consumer, else the client address; the tenant,
else the client address; the client address; or the route alone) and, with
`use_tier`, the caller's tenant, under which the tier's windows count for every route
of the tenant. One backend decision covers both, all or nothing. Every response of the
route then carries `RateLimit-Policy` (one item per window) and `RateLimit` (the
window with the least left), draft-ietf-httpapi-ratelimit-headers-11; a refusal is a
429 `rate_limited` with `Retry-After` in whole seconds.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from fleetgate_pb import config_pb2 as pb

from data_plane.capabilities import ApplyError
from data_plane.config.defaults import RATE_LIMIT_DECISION_DEADLINE as DECISION_DEADLINE
from data_plane.extensions import load
from data_plane.http.errors import (
    QuotaExceeded,
    RateLimitUnavailable,
    TooManyConcurrentRequests,
    TooManyRequests,
)
from data_plane.metrics import (
    ADMITTED,
    CONCURRENCY,
    FAIL_CLOSED,
    FAIL_OPEN,
    QUOTA,
    RATE_LIMIT,
    REFUSED,
    TIER,
    LimitCounters,
    WorkerMetrics,
)

from .bulkhead import Priorities
from .counters import SharedCounters
from .gcra import Window, WindowState
from .local_limit import KEY_HASHES_KEPT, RETRY_AFTER
from .redis_backend import ADMITTED as ADMITTED_ON_REDIS
from .redis_backend import QUOTA_USED_UP, BackendUnavailable, Quota, RedisBackend, quota_key
from .table import Entry, KeyTable, key_hash
from .tiers import TierBook, TierLimits, policy_items, windows_of

if TYPE_CHECKING:
    from data_plane.policies.chain import Call, Decision, RequestVerdict

# A route's own windows on the local backend, compiled (local_limit_c) when built. Its
# constants are read from the source: the twin may still be initialising here (it
# cimports chain_c, whose import brings this module in).
_local = load("data_plane.limits.local_limit")
RATELIMIT_POLICY = b"RateLimit-Policy"
QUOTA_KEPT = 100 * 86_400  # seconds a month's quota counter outlives the month, on Redis
# KEY_HASHES_KEPT (local_limit.py): tenants' key hashes kept; then all forgotten
# A tenant's key hashes (tier windows, quota, requests in flight) and its in-flight release
TenantKeys = tuple[int, int, int, Callable[[], int]]


class LocalBackend:
    """The node's key table (shared by its workers) on the monotonic clock, in ns."""

    ticks_per_second = 1_000_000_000

    __slots__ = ("clock", "table")

    def __init__(self, table: KeyTable, clock: Callable[[], int] = time.monotonic_ns) -> None:
        self.table = table
        self.clock = clock

    def decide(self, entries: list[Entry]) -> tuple[bool, list[list[WindowState]]]:
        return self.table.decide(entries, self.clock())

    def __repr__(self) -> str:
        return f"<LocalBackend {self.table!r}>"


class Limiters:
    """A worker's rate-limit backends and the node's shared counters; they outlive
    config swaps, so counts carry over."""

    __slots__ = ("inflight", "local", "quotas", "redis")

    def __init__(
        self,
        local: LocalBackend,
        redis: RedisBackend | None = None,
        *,
        inflight: SharedCounters | None = None,
        quotas: SharedCounters | None = None,
    ) -> None:
        self.local = local
        self.redis = redis  # None: the node has no --redis-url
        # Requests in flight on the node, by tenant and by service, in this worker's column
        self.inflight = inflight or SharedCounters.private()
        # Monthly quotas used on this node, by tenant
        self.quotas = quotas or SharedCounters.private()

    def add_samples(self, samples: dict[str, Any]) -> None:
        """Add the Redis backend's figures to a worker's `WorkerMetrics.samples()`."""
        redis = self.redis
        if redis is not None:
            values = samples["values"]
            values.append(["fleetgate_rate_limit_redis_decisions_total", {}, redis.decisions])
            values.append(
                ["fleetgate_rate_limit_redis_decision_seconds_total", {}, redis.latency_sum]
            )
            values.append(["fleetgate_rate_limit_redis_errors_total", {}, redis.errors])

    @classmethod
    def private(cls) -> Limiters:
        """Backends for a process on its own: a private table."""
        return cls(LocalBackend(KeyTable.private()))


class LimitsContext:
    """What a snapshot's limit policies share: the worker's backends, tiers, counters."""

    __slots__ = ("_books", "limiters", "metrics", "priorities", "snapshot")

    def __init__(self, limiters: Limiters, snapshot: pb.Snapshot | None, metrics: WorkerMetrics):
        self.limiters = limiters
        self.metrics = metrics
        self.snapshot = snapshot
        self.priorities = Priorities(snapshot)
        self._books: dict[int, TierBook] = {}

    def tiers(self, ticks_per_second: int) -> TierBook:
        """The snapshot's tiers in the ticks of a backend's clock."""
        book = self._books.get(ticks_per_second)
        if book is None:
            book = self._books[ticks_per_second] = TierBook(self.snapshot, ticks_per_second)
        return book


class RateLimitPolicy:
    """A route's `rate_limit`."""

    # Its fields ride on the call; the chain need not show it the response.
    edits_responses = False

    __slots__ = (
        "_keys",
        "_month",
        "_policy_field",
        "_rate_prefixes",
        "_tenant_hashes",
        "_tier_fields",
        "by",
        "counters",
        "deadline",
        "fail_closed",
        "inflight",
        "items",
        "local",
        "on_request",
        "prefix",
        "quotas",
        "redis",
        "ticks",
        "tiers",
        "use_tier",
        "wall_clock",
        "windows",
    )

    def __init__(self, route: str, spec: pb.RateLimitPolicy, context: LimitsContext) -> None:
        self.local: LocalBackend | None = None
        self.redis: RedisBackend | None = None
        if spec.backend == "redis":
            self.redis = context.limiters.redis
            if self.redis is None:
                raise ApplyError(
                    f"route {route}: rate_limit.backend is redis, and this node has no --redis-url"
                )
            self.ticks = self.redis.ticks_per_second
        else:
            self.local = context.limiters.local
            self.ticks = self.local.ticks_per_second
        self.windows = windows_of(spec, self.ticks)
        self.items = policy_items("", self.windows)
        self.by = spec.by or "consumer"
        self.prefix = f"route|{route}|{self.by}|"
        self.use_tier = spec.use_tier
        self.fail_closed = spec.fail_mode == "closed"
        self.deadline = spec.decision_deadline or DECISION_DEADLINE
        self.tiers = context.tiers(self.ticks)
        self.counters: LimitCounters = context.metrics.limits(route)
        self.inflight = context.limiters.inflight
        self.quotas = context.limiters.quotas
        self.wall_clock = time.time  # quotas count per UTC calendar month
        # What every request of the route's own windows needs, made once: the hashes of
        # the keys seen (bounded), the RateLimit-Policy field and each window's RateLimit
        # value up to its numbers.
        self._keys = _local.RouteKeys(self.prefix, self.by)
        self._tenant_hashes: dict[str, TenantKeys] = {}
        # The UTC calendar month quotas count in, and when it began and ends (epoch s)
        self._month = (0, 0.0, 0.0)
        # Per tier: RateLimit-Policy with the tier's items, and its windows' RateLimit parts
        self._tier_fields: dict[str, tuple[tuple[bytes, bytes], tuple[bytes, ...]]] = {}
        self._policy_field = (RATELIMIT_POLICY, b", ".join(self.items))
        self._rate_prefixes = tuple(b'"%s";r=' % w.name.encode() for w in self.windows)
        self.on_request: Callable[[Call], RequestVerdict] = self._decide
        if self.local is not None and self.windows:
            # The route's own windows, decided in one step (compiled when built); a
            # caller whose tier's limits apply too takes the general way.
            self.on_request = _local.LocalWindows(
                self._keys,
                self.local.table,
                self.local.clock,
                self.windows,
                self.ticks,
                self.counters,
                policy_field=self._policy_field,
                rate_prefixes=self._rate_prefixes,
                use_tier=self.use_tier,
                general=self._decide,
            ).on_request

    def _decide_entries(
        self, call: Call, local: LocalBackend, entries: list[Entry], tier: TierLimits | None
    ) -> TooManyRequests | None:
        """One local decision over the route's windows and the tier's (`entries`, in that
        order), with the same fields, counts and answer as `_verdict`, made from the
        table's figures and parts kept per tier."""
        admitted, tightest, remaining, reset, wait, tier_wait = local.table.decide_entries(
            entries, local.clock()
        )
        if tier is None:
            policy_field, prefixes = self._policy_field, self._rate_prefixes
        else:
            kept = self._tier_fields.get(tier.name)
            if kept is None:
                kept = self._tier_fields[tier.name] = (
                    (RATELIMIT_POLICY, b", ".join([*self.items, *tier.items])),
                    self._rate_prefixes
                    + tuple(
                        b'"%s-%s";r=' % (tier.name.encode(), w.name.encode()) for w in tier.windows
                    ),
                )
            policy_field, prefixes = kept
        _local.add_fields(call, policy_field, prefixes[tightest], remaining, reset, self.ticks)
        counters = self.counters
        if admitted:
            counters.count(RATE_LIMIT if self.windows else TIER, ADMITTED)
            return None
        counters.count(TIER if tier_wait or not self.windows else RATE_LIMIT, REFUSED)
        return _local.too_many_requests(wait, self.ticks)

    def _tenant_keys(self, tenant: str | None) -> TenantKeys:
        """The hashes of a tenant's keys (its tier windows, its quota, its requests in
        flight), and what gives back one of its requests in flight."""
        name = tenant or ""
        keys = self._tenant_hashes.get(name)
        if keys is None:
            if len(self._tenant_hashes) >= KEY_HASHES_KEPT:
                self._tenant_hashes.clear()
            inflight = key_hash(f"inflight|tenant|{tenant}")
            keys = self._tenant_hashes[name] = (
                key_hash(f"tenant|{tenant}"),
                key_hash(f"quota|{tenant}"),
                inflight,
                partial(self.inflight.add, inflight, -1),
            )
        return keys

    def _month_of(self, now: float) -> int:
        """`month_of(now)`, worked out again only when a month ends."""
        month, begins, ends = self._month
        if not begins <= now < ends:
            month = month_of(now)
            begins = datetime(month // 12, month % 12 + 1, 1, tzinfo=UTC).timestamp()
            self._month = (month, begins, next_month(now))
        return month

    def _decide(self, call: Call) -> RequestVerdict:
        tier = self.tiers.of(call.tier, call.tenant) if self.use_tier and call.tenant else None
        windowed = tier if tier is not None and tier.windows else None
        local = self.local
        if local is None and (
            self.windows or windowed is not None or (tier is not None and tier.monthly_quota)
        ):
            return self._decide_on_redis(call, windowed, tier)
        if local is None or (not self.windows and windowed is None):
            return None if tier is None else self._tenant_caps(call, tier)
        entries: list[Entry] = []
        if self.windows:
            entries.append((self._keys.of(call), self.windows))
        if windowed is not None:
            entries.append((self._tenant_keys(call.tenant)[0], windowed.windows))
        verdict = self._decide_entries(call, local, entries, windowed)
        if verdict is None and tier is not None:
            return self._tenant_caps(call, tier)
        return verdict

    def _tenant_caps(
        self, call: Call, tier: TierLimits, *, quota: bool = True
    ) -> TooManyRequests | None:
        """The tier's monthly quota (unless Redis counted it) and concurrency cap, for the
        caller's tenant."""
        counters = self.counters
        quota_key = 0
        if tier.monthly_quota and quota:
            quota_key = self._tenant_keys(call.tenant)[1]
            now = self.wall_clock()
            if self.quotas.add(quota_key, 1, tier.monthly_quota, self._month_of(now)) < 0:
                counters.count(QUOTA, REFUSED)
                wait = max(1, math.ceil(next_month(now) - now))
                return QuotaExceeded(
                    f"the monthly quota of tier {tier.name} ({tier.monthly_quota} requests)"
                    " is used up",
                    headers=((RETRY_AFTER, b"%d" % wait),),
                )
            counters.count(QUOTA, ADMITTED)
        if tier.max_concurrent:
            _, _, key, release = self._tenant_keys(call.tenant)
            if self.inflight.add(key, 1, tier.max_concurrent) < 0:
                counters.count(CONCURRENCY, REFUSED)
                if quota_key:  # a request refused here uses none of the quota
                    self.quotas.add(quota_key, -1, 0, self._month_of(self.wall_clock()))
                return TooManyConcurrentRequests(
                    f"tier {tier.name} allows {tier.max_concurrent} requests in flight",
                    headers=((RETRY_AFTER, b"1"),),
                )
            counters.count(CONCURRENCY, ADMITTED)
            call.on_end(release)
        return None

    async def _decide_on_redis(
        self, call: Call, tier: TierLimits | None, caps: TierLimits | None
    ) -> Decision:
        redis = self.redis
        assert redis is not None
        route_key = self.prefix + self._key(call)
        keys: list[str] = []
        windows: list[tuple[Window, ...]] = []
        # One hash tag for every key of the decision: the tenant's when its tier counts.
        tag = route_key if caps is None else f"tenant|{call.tenant}"
        if self.windows:
            keys.append(redis.key(tag, route_key))
            windows.append(self.windows)
        if tier is not None:
            keys.append(redis.key(tag, "tier"))
            windows.append(tier.windows)
        quota = None
        now = self.wall_clock()
        if caps is not None and caps.monthly_quota:
            month = datetime.fromtimestamp(now, UTC).strftime("%Y-%m")
            key = quota_key(redis.prefix, call.tenant or "", month)
            # Kept a while after the month ends, for the usage API to read.
            quota = Quota(key, caps.monthly_quota, int(next_month(now)) + QUOTA_KEPT)
        try:
            outcome, states = await redis.decide(keys, windows, self.deadline, quota)
        except BackendUnavailable:
            policy = RATE_LIMIT if self.windows else TIER
            items = self.items if tier is None else [*self.items, *tier.items]
            call.response_fields.append((RATELIMIT_POLICY, b", ".join(items)))
            if self.fail_closed:
                self.counters.count(policy, FAIL_CLOSED)
                return RateLimitUnavailable("the rate-limit backend cannot decide; try again")
            self.counters.count(policy, FAIL_OPEN)
            return None if caps is None else self._tenant_caps(call, caps, quota=False)
        if outcome == QUOTA_USED_UP:
            assert caps is not None
            if states:
                self._verdict(call, True, states, tier, count=False)
            self.counters.count(QUOTA, REFUSED)
            return QuotaExceeded(
                f"the monthly quota of tier {caps.name} ({caps.monthly_quota} requests) is used up",
                headers=((RETRY_AFTER, b"%d" % max(1, math.ceil(next_month(now) - now))),),
            )
        verdict = (
            self._verdict(call, outcome == ADMITTED_ON_REDIS, states, tier) if states else None
        )
        if quota is not None:
            self.counters.count(QUOTA, ADMITTED)
        if verdict is None and caps is not None:
            return self._tenant_caps(call, caps, quota=False)
        return verdict

    def _key(self, call: Call) -> str:
        by = self.by
        if by == "consumer" and call.consumer is not None:
            return "consumer:" + call.consumer
        if by == "tenant" and call.tenant is not None:
            return "tenant:" + call.tenant
        if by == "route":
            return ""
        return "client:" + call.client

    def _verdict(
        self,
        call: Call,
        admitted: bool,
        states: list[list[WindowState]],
        tier: TierLimits | None,
        *,
        count: bool = True,
    ) -> TooManyRequests | None:
        ticks = self.ticks
        items = self.items if tier is None else [*self.items, *tier.items]
        named: list[tuple[bytes, WindowState]] = []
        for i, entry_states in enumerate(states):
            from_tier = i > 0 or not self.windows
            prefix = b"" if not from_tier or tier is None else tier.name.encode() + b"-"
            named.extend((prefix + s.window.name.encode(), s) for s in entry_states)
        name, tightest = min(named, key=lambda item: (item[1].remaining, -item[1].reset))
        _local.add_fields(
            call,
            (RATELIMIT_POLICY, b", ".join(items)),
            b'"%s";r=' % name,
            tightest.remaining,
            tightest.reset,
            ticks,
        )
        counters = self.counters
        if not count:
            return None
        if admitted:
            counters.count(RATE_LIMIT if self.windows else TIER, ADMITTED)
            return None
        refused_by_tier = (
            any(s.wait for i, entry_states in enumerate(states) for s in entry_states if i > 0)
            or not self.windows
        )
        counters.count(TIER if refused_by_tier else RATE_LIMIT, REFUSED)
        wait = max(s.wait for entry_states in states for s in entry_states)
        return _local.too_many_requests(wait, ticks)

    def on_response(self, call: Call, status: int, fields: list[tuple[bytes, bytes]]) -> None:
        return None

    def __repr__(self) -> str:
        windows = ",".join(f"{w.limit}/{w.name}" for w in self.windows)
        backend = "local" if self.redis is None else "redis"
        return f"<RateLimitPolicy {backend} by={self.by} windows=[{windows}] tier={self.use_tier}>"


def month_of(epoch_seconds: float) -> int:
    """The UTC calendar month of a time, as a number (year * 12 + month - 1)."""
    moment = datetime.fromtimestamp(epoch_seconds, UTC)
    return moment.year * 12 + moment.month - 1


def next_month(epoch_seconds: float) -> float:
    """When the UTC calendar month after that of `epoch_seconds` begins."""
    month = month_of(epoch_seconds) + 1
    return datetime(month // 12, month % 12 + 1, 1, tzinfo=UTC).timestamp()
