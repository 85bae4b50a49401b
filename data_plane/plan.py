"""What serving a request reads of the compiled config: a route's `RoutePlan` and its
service's `ServiceRuntime`, built once per snapshot by the compile (runtime.py) and read
by the proxy core on every request."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from data_plane.http.retry import OK
from data_plane.resilience.breaker import unavailable_error

if TYPE_CHECKING:
    from data_plane.balancing import Balancer, Upstream
    from data_plane.http.core import ServicePool
    from data_plane.http.errors import ProxyError
    from data_plane.http.request import RequestHead
    from data_plane.http.retry import RetryBudget, RetryPolicy
    from data_plane.limits.bulkhead import Bulkhead, Priorities
    from data_plane.metrics import RouteCounters, ServiceCounters, TargetCounters
    from data_plane.policies import PolicyChain
    from data_plane.resilience.breaker import TargetBreakers

HashKey = Callable[["RequestHead", str], str | None]


@dataclass(slots=True, eq=False)
class ServiceRuntime:
    """A service as the proxy uses it: balancer, pool, counters, pre-built Host lines."""

    name: str
    definition: bytes  # the serialized pb.Service: equal bytes, unchanged service
    balancer: Balancer
    pool: ServicePool
    counters: ServiceCounters
    host_lines: tuple[bytes, ...]  # b"Host: <address>\r\n" by target index
    timeouts: tuple[float, float, float, float]  # connect, read, total, per try (0: none)
    retry_policy: RetryPolicy
    retry_budget: RetryBudget
    max_concurrent: int  # 0: no cap
    hash_key: HashKey | None  # consistent hashing's key, None for other algorithms
    observe: Callable[[Upstream, float], None] | None  # latency feedback, EWMA only
    target_counters: tuple[TargetCounters, ...]  # by target index
    breakers: TargetBreakers | None  # None: the service has no circuit breaker
    retry_after: int  # seconds, told with a 503 when no target is left
    bulkhead: Bulkhead | None  # max_concurrent_requests per node; None: no cap
    tls: ssl.SSLContext | None = None  # None: the targets speak plain HTTP
    server_names: tuple[str, ...] = ()  # with tls: the name each target is verified as
    active: int = 0  # requests in flight in this worker

    def report(self, target: Upstream, outcome: int, *, blame: bool = True) -> None:
        """How a try at `target` ended (an outcome of http/retry.py), once per try.

        The one place a target's successes and failures are told: its counters and its
        circuit breaker. `blame`: False when the failure is no fault of the target's (a
        pooled connection it had closed while idle).
        """
        self.counters.outcomes[outcome] += 1
        counters = self.target_counters[target.index]
        counters.tries += 1
        if not blame:
            return
        ok = outcome == OK
        if not ok:
            counters.failures += 1
        breakers = self.breakers
        if breakers is not None:
            breakers.record(target, ok)

    def trial(self, target: Upstream) -> None:
        """A request goes to `target`, whose breaker is half-open."""
        if self.breakers is not None:
            self.breakers.trial(target)

    def unavailable(self) -> ProxyError:
        """The 503 for a request that finds no target it may use."""
        if self.breakers is not None:
            return self.breakers.unavailable(self.retry_after)
        return unavailable_error(self.name, self.retry_after)

    def __repr__(self) -> str:
        return f"<ServiceRuntime {self.name} targets={len(self.host_lines)} active={self.active}>"


@dataclass(slots=True, eq=False)
class RoutePlan:
    """Everything serving a request of one route needs, compiled once."""

    name: str
    service: ServiceRuntime
    counters: RouteCounters
    chain: PolicyChain | None  # None: no policies, nothing to run
    max_body: int
    connect_timeout: float
    read_timeout: float
    total_timeout: float  # 0: none
    per_try_timeout: float  # 0: none
    priorities: Priorities  # the share of a service's cap each tier may fill
    https_only: bool = False  # plain HTTP is sent to the https:// URL

    def __repr__(self) -> str:
        return f"<RoutePlan {self.name} -> {self.service.name} chain={self.chain!r}>"
