"""Per-worker counters and histograms, and their Prometheus text, summed across workers.

A request touches plain integers only: the counters object of its route (bound at
config-compile time), the latency histogram of its service (a fixed list of buckets,
filled from `time.perf_counter()`, so sub-millisecond buckets mean something) and the
counters of the target its try went to. Nothing is formatted until `/metrics` is
scraped: then each worker sends `samples()`, the supervisor adds them up with
`SampleSum`, and prometheus-client renders them through a custom collector
(`metrics_text.py`: no multiprocess mode, and workers never load the client).
Counters outlive config swaps: they are kept by name here, not in the compiled config.

A new family is one entry in `FAMILIES` (its type and help) plus the samples a worker
(`WorkerMetrics.samples`) or the supervisor (`SampleSum.set`) gives it.
"""

from __future__ import annotations

from bisect import bisect_left
from operator import attrgetter, itemgetter
from typing import Any

from data_plane.http.retry import OUTCOMES

# A plain route answers in well under a millisecond: the first buckets resolve that.
LATENCY_BOUNDS = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
)  # fmt: skip
TIMEOUT_KINDS = ("connect", "read", "total", "per_try")
CONNECT, READ, TOTAL, PER_TRY = range(4)


# name -> (type, help); the order is the order of /metrics.
FAMILIES: dict[str, tuple[str, str]] = {
    "fleetgate_requests_total": (
        "counter",
        "Requests answered, by route, service and status class.",
    ),
    "fleetgate_request_duration_seconds": (
        "histogram",
        "Time from the request head to the end of the response, by service.",
    ),
    "fleetgate_worker_loop_lag_seconds": (
        "histogram",
        "How late a worker's periodic timer fired: the longest its event loop was held up.",
    ),
    "fleetgate_upstream_connect_errors_total": (
        "counter",
        "Upstream connections that could not be opened, by service.",
    ),
    "fleetgate_upstream_timeouts_total": (
        "counter",
        "Upstream timeouts by service and kind (connect, read, total, per_try).",
    ),
    "fleetgate_upstream_retries_total": ("counter", "Requests sent again to an upstream."),
    "fleetgate_upstream_retry_budget_exhausted_total": (
        "counter",
        "Retries not made because the service's retry budget was spent, by service.",
    ),
    "fleetgate_upstream_tries_total": (
        "counter",
        "Tries at an upstream target, by service and how they ended (ok, reset, ...).",
    ),
    "fleetgate_target_tries_total": (
        "counter",
        "Tries at an upstream target, by service and target address.",
    ),
    "fleetgate_target_failures_total": (
        "counter",
        "Tries at an upstream target that failed (the circuit breaker's failures), by target.",
    ),
    "fleetgate_target_breaker": (
        "gauge",
        "Workers whose circuit breaker of the target is in each state (closed, open, half_open).",
    ),
    "fleetgate_target_healthy": (
        "gauge",
        "1 while the target passes its service's active health checks, 0 once it fails them.",
    ),
    "fleetgate_rate_limit_decisions_total": (
        "counter",
        "Rate-limit decisions by route, policy (rate_limit, tier, ...) and outcome.",
    ),
    "fleetgate_rate_limit_keys": (
        "gauge",
        "Keys with live state in the node's local rate-limit table.",
    ),
    "fleetgate_rate_limit_evictions_total": (
        "counter",
        "Live keys forgotten to make room in the full local rate-limit table.",
    ),
    "fleetgate_rate_limit_redis_decisions_total": (
        "counter",
        "Decisions Redis made for rate limits with backend: redis.",
    ),
    "fleetgate_rate_limit_redis_decision_seconds_total": (
        "counter",
        "Time spent waiting for those decisions, in seconds (over the count: the mean).",
    ),
    "fleetgate_rate_limit_redis_errors_total": (
        "counter",
        "Rate-limit decisions Redis failed to make in time (errors, timeouts).",
    ),
    "fleetgate_upstream_connections": ("gauge", "Open upstream connections, by service."),
    "fleetgate_target_connections": (
        "gauge",
        "Open connections to an upstream target, by service and target address.",
    ),
    "fleetgate_upstream_idle_connections": (
        "gauge",
        "Upstream connections idle in the pool, by service.",
    ),
    "fleetgate_downstream_connections": ("gauge", "Open client connections."),
    "fleetgate_downstream_connections_total": ("counter", "Client connections accepted."),
    "fleetgate_tls_handshakes_total": (
        "counter",
        "TLS handshakes completed on the HTTPS listener.",
    ),
    "fleetgate_tls_handshake_failures_total": (
        "counter",
        "HTTPS connections closed before their handshake was done, by reason (timeout:"
        " not done within the header timeout; failed: not TLS, below TLS 1.2, no"
        " certificate for the name, or the client gave up).",
    ),
    "fleetgate_config_version": ("gauge", "Version of the snapshot being served."),
    "fleetgate_config_info": ("gauge", "The snapshot being served, by hash; always 1."),
    "fleetgate_config_applies_total": ("counter", "Snapshots applied or refused, by result."),
    "fleetgate_config_apply_seconds": (
        "gauge",
        "Time the last applied snapshot took to compile and swap on every worker.",
    ),
    "fleetgate_config_applied_timestamp_seconds": (
        "gauge",
        "When the snapshot being served was applied (Unix time).",
    ),
    "fleetgate_workers": ("gauge", "Worker processes running."),
    "fleetgate_worker_restarts_total": ("counter", "Worker processes started again after dying."),
    "fleetgate_worker_stalls_total": (
        "counter",
        "Workers killed (and replaced) because their event loop stopped answering.",
    ),
}

Labels = tuple[tuple[str, str], ...]
SampleKey = tuple[str, Labels]


class RouteCounters:
    """Answers of one route, by status class: `statuses[2]` counts 2xx."""

    __slots__ = ("route", "service", "statuses")

    def __init__(self, route: str, service: str) -> None:
        self.route = route
        self.service = service
        self.statuses = [0] * 6

    def __repr__(self) -> str:
        return f"<RouteCounters {self.route}->{self.service} {self.statuses[1:]}>"


LIMIT_POLICIES = ("rate_limit", "tier", "quota", "concurrency", "bulkhead", "priority")
LIMIT_OUTCOMES = ("admitted", "refused", "fail_open", "fail_closed")
(RATE_LIMIT, TIER, QUOTA, CONCURRENCY, BULKHEAD, PRIORITY) = range(len(LIMIT_POLICIES))
ADMITTED, REFUSED, FAIL_OPEN, FAIL_CLOSED = range(len(LIMIT_OUTCOMES))


class LimitCounters:
    """Decisions of one route's limits: `counts[policy * 4 + outcome]`."""

    __slots__ = ("counts", "route")

    def __init__(self, route: str) -> None:
        self.route = route
        self.counts = [0] * (len(LIMIT_POLICIES) * len(LIMIT_OUTCOMES))

    def count(self, policy: int, outcome: int) -> None:
        self.counts[policy * len(LIMIT_OUTCOMES) + outcome] += 1

    def __repr__(self) -> str:
        return f"<LimitCounters {self.route} decisions={sum(self.counts)}>"


class ServiceCounters:
    """Latency and upstream events of one service."""

    __slots__ = (
        "buckets",
        "connect_errors",
        "idle",
        "latency_sum",
        "name",
        "open",
        "outcomes",
        "retries",
        "retry_budget_exhausted",
        "timeouts",
    )

    def __init__(self, name: str) -> None:
        self.name = name
        self.buckets = [0] * (len(LATENCY_BOUNDS) + 1)
        self.latency_sum = 0.0
        self.connect_errors = 0
        self.timeouts = [0, 0, 0, 0]  # by CONNECT, READ, TOTAL, PER_TRY
        self.retries = 0
        self.retry_budget_exhausted = 0
        self.outcomes = [0] * len(OUTCOMES)  # tries by how they ended
        self.open = 0  # upstream connections open
        self.idle = 0  # of which idle in the pool

    def observe(self, seconds: float) -> None:
        self.buckets[bisect_left(LATENCY_BOUNDS, seconds)] += 1
        self.latency_sum += seconds

    def __repr__(self) -> str:
        return f"<ServiceCounters {self.name} requests={sum(self.buckets)} open={self.open}>"


class TargetCounters:
    """Tries at one target of a service, and its circuit breaker's state in this worker."""

    __slots__ = ("address", "breaker", "failures", "open", "service", "tries")

    def __init__(self, service: str, address: str) -> None:
        self.service = service
        self.address = address
        self.tries = 0
        self.failures = 0
        self.open = 0  # connections open to it
        self.breaker = ""  # "closed", "open" or "half_open"; "" without a breaker

    def __repr__(self) -> str:
        return f"<TargetCounters {self.service} {self.address} {self.failures}/{self.tries}>"


class SideCounters:
    """The answers one side of a blue/green rollout (active, candidate) made."""

    __slots__ = ("buckets", "errors", "requests")

    def __init__(self) -> None:
        self.requests = 0
        self.errors = 0  # 5xx answers
        self.buckets = [0] * (len(LATENCY_BOUNDS) + 1)

    def count(self, status: int, latency: float) -> None:
        self.requests += 1
        if status >= 500:
            self.errors += 1
        self.buckets[bisect_left(LATENCY_BOUNDS, latency)] += 1

    def summary(self) -> dict[str, Any]:
        return {"requests": self.requests, "errors": self.errors, "buckets": list(self.buckets)}


class WorkerMetrics:
    """Every counter of one worker process."""

    def __init__(self) -> None:
        self._routes: dict[tuple[str, str], RouteCounters] = {}
        self._services: dict[str, ServiceCounters] = {}
        self._targets: dict[tuple[str, str], TargetCounters] = {}
        self._limits: dict[str, LimitCounters] = {}
        self.unrouted = self.route("", "")  # answers made before a route was known
        self.sides = (SideCounters(), SideCounters())  # active, candidate
        self.open_connections = 0
        self.accepted = 0
        self.tls_handshakes = 0
        self.tls_handshake_failures: dict[str, int] = {}
        # How late the worker's timers fire (see Worker._tick), in LATENCY_BOUNDS buckets.
        self.loop_lag = [0] * (len(LATENCY_BOUNDS) + 1)
        self.loop_lag_sum = 0.0
        # For `summary`: every route's `statuses` list (each counted in place), kept for
        # as long as no route was added (routes are never taken out).
        self._statuses: list[list[int]] = []

    def observe_loop_lag(self, seconds: float) -> None:
        self.loop_lag[bisect_left(LATENCY_BOUNDS, seconds)] += 1
        self.loop_lag_sum += seconds

    def route(self, route: str, service: str) -> RouteCounters:
        # setdefault: compiles run in a thread while the loop may read the dict.
        key = (route, service)
        counters = self._routes.get(key)
        return (
            counters if counters is not None else self._routes.setdefault(key, RouteCounters(*key))
        )

    def service(self, name: str) -> ServiceCounters:
        counters = self._services.get(name)
        return (
            counters
            if counters is not None
            else self._services.setdefault(name, ServiceCounters(name))
        )

    def target(self, service: str, address: str) -> TargetCounters:
        key = (service, address)
        counters = self._targets.get(key)
        if counters is None:
            counters = self._targets.setdefault(key, TargetCounters(*key))
        return counters

    def limits(self, route: str) -> LimitCounters:
        counters = self._limits.get(route)
        return (
            counters
            if counters is not None
            else self._limits.setdefault(route, LimitCounters(route))
        )

    def samples(self) -> dict[str, Any]:
        """Every non-zero value, in a JSON-friendly shape that `SampleSum` adds up."""
        values: list[list[Any]] = []
        histograms: list[list[Any]] = []
        for counters in list(self._routes.values()):
            for status_class in range(1, 6):
                count = counters.statuses[status_class]
                if count:
                    labels = {"route": counters.route, "service": counters.service}
                    labels["code"] = f"{status_class}xx"
                    values.append(["fleetgate_requests_total", labels, count])
        width = len(LIMIT_OUTCOMES)
        for limits in list(self._limits.values()):
            for i, count in enumerate(limits.counts):
                if count:
                    labels = {
                        "route": limits.route,
                        "policy": LIMIT_POLICIES[i // width],
                        "outcome": LIMIT_OUTCOMES[i % width],
                    }
                    values.append(["fleetgate_rate_limit_decisions_total", labels, count])
        for service in list(self._services.values()):
            labels = {"service": service.name}
            if any(service.buckets):
                histograms.append(
                    [
                        "fleetgate_request_duration_seconds",
                        labels,
                        service.buckets[:],
                        service.latency_sum,
                    ]
                )
            if service.connect_errors:
                values.append(
                    ["fleetgate_upstream_connect_errors_total", labels, service.connect_errors]
                )
            for kind, count in zip(TIMEOUT_KINDS, service.timeouts, strict=True):
                if count:
                    values.append(
                        ["fleetgate_upstream_timeouts_total", {**labels, "kind": kind}, count]
                    )
            if service.retries:
                values.append(["fleetgate_upstream_retries_total", labels, service.retries])
            if service.retry_budget_exhausted:
                values.append(
                    [
                        "fleetgate_upstream_retry_budget_exhausted_total",
                        labels,
                        service.retry_budget_exhausted,
                    ]
                )
            for outcome, count in zip(OUTCOMES, service.outcomes, strict=True):
                if count:
                    values.append(
                        ["fleetgate_upstream_tries_total", {**labels, "outcome": outcome}, count]
                    )
            values.append(["fleetgate_upstream_connections", labels, service.open])
            values.append(["fleetgate_upstream_idle_connections", labels, service.idle])
        for target in list(self._targets.values()):
            labels = {"service": target.service, "target": target.address}
            if target.tries:
                values.append(["fleetgate_target_tries_total", labels, target.tries])
                values.append(["fleetgate_target_failures_total", labels, target.failures])
            if target.breaker:
                values.append(["fleetgate_target_breaker", {**labels, "state": target.breaker}, 1])
            values.append(["fleetgate_target_connections", labels, target.open])
        if any(self.loop_lag):
            histograms.append(
                ["fleetgate_worker_loop_lag_seconds", {}, self.loop_lag[:], self.loop_lag_sum]
            )
        values.append(["fleetgate_downstream_connections", {}, self.open_connections])
        values.append(["fleetgate_downstream_connections_total", {}, self.accepted])
        if self.tls_handshakes:
            values.append(["fleetgate_tls_handshakes_total", {}, self.tls_handshakes])
        for reason, count in list(self.tls_handshake_failures.items()):
            values.append(["fleetgate_tls_handshake_failures_total", {"reason": reason}, count])
        return {"values": values, "histograms": histograms}

    def summary(self) -> dict[str, Any]:
        """Totals for the node's status reports: answers, 5xx answers, latency, connections.

        Asked every second, on the loop: the sums run in C over lists of the counters'
        own lists (a Python loop over 10,000 routes held the loop about a millisecond)."""
        statuses = self._statuses
        if len(statuses) != len(self._routes):
            statuses = self._statuses = list(map(_STATUSES, list(self._routes.values())))
        requests = sum(map(sum, statuses))
        errors = sum(map(_SERVER_ERRORS, statuses))
        services = list(map(_BUCKETS, list(self._services.values())))
        buckets = (
            list(map(sum, zip(*services, strict=True)))
            if services
            else [0] * (len(LATENCY_BOUNDS) + 1)
        )
        return {
            "requests": requests,
            "errors": errors,
            "buckets": buckets,
            "open_connections": self.open_connections,
            "sides": [side.summary() for side in self.sides],
        }


_STATUSES = attrgetter("statuses")
_SERVER_ERRORS = itemgetter(5)
_BUCKETS = attrgetter("buckets")


class SampleSum:
    """Samples of several workers (and the supervisor's own) added up, for
    `metrics_text.render` and `/stats`."""

    def __init__(self) -> None:
        self.values: dict[SampleKey, float] = {}
        self.histograms: dict[SampleKey, tuple[list[int], float]] = {}

    def add(self, samples: dict[str, Any]) -> None:
        for name, labels, value in samples.get("values", ()):
            key = (name, _labels(labels))
            self.values[key] = self.values.get(key, 0) + value
        for name, labels, buckets, total in samples.get("histograms", ()):
            key = (name, _labels(labels))
            known = self.histograms.get(key)
            if known is None:
                self.histograms[key] = (list(buckets), total)
            else:
                self.histograms[key] = (
                    [a + b for a, b in zip(known[0], buckets, strict=True)],
                    known[1] + total,
                )

    def set(self, name: str, labels: dict[str, str], value: float) -> None:
        self.values[(name, _labels(labels))] = value


def _labels(labels: dict[str, str]) -> Labels:
    return tuple(sorted(labels.items()))


def quantile(buckets: list[int], q: float) -> float:
    """The q-quantile (0..1) of a latency histogram, in seconds, interpolated in its bucket."""
    total = sum(buckets)
    if not total:
        return 0.0
    rank = q * total
    seen = 0
    lower = 0.0
    for i, count in enumerate(buckets):
        upper = LATENCY_BOUNDS[i] if i < len(LATENCY_BOUNDS) else LATENCY_BOUNDS[-1]
        if count and seen + count >= rank:
            return lower + (upper - lower) * (rank - seen) / count
        seen += count
        lower = upper
    return LATENCY_BOUNDS[-1]
