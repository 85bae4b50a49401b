"""What serving a request reads of the compiled config: a route's `RoutePlan` and its
service's `ServiceRuntime`, built once per snapshot by the compile (runtime.py) and read
by the proxy core on every request.

Plain Python compiled by Cython into a twin (`plan_c`, typed by `plan_c.pxd`) with the
proxy core, which cimports it: the exchange reads a plan's and a service's fields as C
struct members and calls `report` in C. data_plane/http/core.py loads it with the core's
other twins, and the compile takes the classes from there.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from typing import TYPE_CHECKING

try:
    import cython
except ImportError:  # Cython is only needed to build the compiled twin
    from data_plane import uncompiled as cython

from data_plane.http.retry import OK
from data_plane.resilience.breaker import unavailable_error

if not cython.compiled:  # compiled, plan_c.pxd cimports the compiled twin's class
    from data_plane.http.pool import ServicePool

if TYPE_CHECKING:
    from data_plane.balancing import Balancer, Upstream
    from data_plane.http.errors import ProxyError
    from data_plane.http.request import RequestHead
    from data_plane.http.retry import RetryBudget, RetryPolicy
    from data_plane.limits.bulkhead import Bulkhead, Priorities
    from data_plane.metrics import RouteCounters, ServiceCounters, TargetCounters
    from data_plane.policies import PolicyChain
    from data_plane.resilience.breaker import TargetBreakers

HashKey = Callable[["RequestHead", str], str | None]


class ServiceRuntime:
    """A service as the proxy uses it: balancer, pool, counters, pre-built Host lines."""

    __slots__ = (
        "active",
        "balancer",
        "breakers",
        "bulkhead",
        "counters",
        "definition",
        "hash_key",
        "host_lines",
        "max_concurrent",
        "name",
        "observe",
        "pool",
        "retry_after",
        "retry_budget",
        "retry_policy",
        "server_names",
        "target_counters",
        "timeouts",
        "tls",
    )

    def __init__(
        self,
        name: str,
        definition: bytes,  # the serialized pb.Service: equal bytes, unchanged service
        balancer: Balancer,
        pool: ServicePool,
        counters: ServiceCounters,
        host_lines: tuple[bytes, ...],  # b"Host: <address>\r\n" by target index
        timeouts: tuple[float, float, float, float],  # connect, read, total, per try (0: none)
        retry_policy: RetryPolicy,
        retry_budget: RetryBudget,
        max_concurrent: int,  # 0: no cap
        hash_key: HashKey | None,  # consistent hashing's key, None for other algorithms
        observe: Callable[[Upstream, float], None] | None,  # latency feedback, EWMA only
        target_counters: tuple[TargetCounters, ...],  # by target index
        breakers: TargetBreakers | None,  # None: the service has no circuit breaker
        retry_after: int,  # seconds, told with a 503 when no target is left
        bulkhead: Bulkhead | None,  # max_concurrent_requests per node; None: no cap
        tls: ssl.SSLContext | None = None,  # None: the targets speak plain HTTP
        server_names: tuple[str, ...] = (),  # with tls: the name each target is verified as
        active: int = 0,  # requests in flight in this worker
    ) -> None:
        self.name = name
        self.definition = definition
        self.balancer = balancer
        self.pool = pool
        self.counters = counters
        self.host_lines = host_lines
        self.timeouts = timeouts
        self.retry_policy = retry_policy
        self.retry_budget = retry_budget
        self.max_concurrent = max_concurrent
        self.hash_key = hash_key
        self.observe = observe
        self.target_counters = target_counters
        self.breakers = breakers
        self.retry_after = retry_after
        self.bulkhead = bulkhead
        self.tls = tls
        self.server_names = server_names
        self.active = active

    def report(self, target: Upstream, outcome: int, blame: bool = True) -> None:
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


class RoutePlan:
    """Everything serving a request of one route needs, compiled once."""

    __slots__ = (
        "chain",
        "connect_timeout",
        "counters",
        "https_only",
        "max_body",
        "name",
        "per_try_timeout",
        "priorities",
        "read_timeout",
        "service",
        "total_timeout",
    )

    def __init__(
        self,
        name: str,
        service: ServiceRuntime,
        counters: RouteCounters,
        chain: PolicyChain | None,  # None: no policies, nothing to run
        max_body: int,
        connect_timeout: float,
        read_timeout: float,
        total_timeout: float,  # 0: none
        per_try_timeout: float,  # 0: none
        priorities: Priorities,  # the share of a service's cap each tier may fill
        https_only: bool = False,  # plain HTTP is sent to the https:// URL
    ) -> None:
        self.name = name
        self.service = service
        self.counters = counters
        self.chain = chain
        self.max_body = max_body
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.total_timeout = total_timeout
        self.per_try_timeout = per_try_timeout
        self.priorities = priorities
        self.https_only = https_only

    def __repr__(self) -> str:
        return f"<RoutePlan {self.name} -> {self.service.name} chain={self.chain!r}>"
