"""One upstream target of a service, as the balancer and the proxy share it."""

from __future__ import annotations

from dataclasses import dataclass

from fleetgate_pb import config_pb2 as pb

from data_plane.config.syntax import parse_host_port


@dataclass(slots=True, eq=False)
class Upstream:
    """A target of a service. Compared by identity: two targets are never the same one."""

    address: str  # "host:port" as configured
    host: str  # without the brackets of an IPv6 literal
    port: int
    weight: int  # 0 drains the target: it is never picked
    index: int  # position in the service's targets
    # Per-target state: the proxy counts requests in flight (increment before use,
    # decrement after); health changes go through Balancer.set_healthy, breaker changes
    # (data_plane/resilience) set `tripped` and `probing`, then call Balancer.refresh.
    active: int = 0
    healthy: bool = True  # the active health checks pass (or there are none)
    tripped: bool = False  # its circuit breaker lets no new request through
    probing: bool = False  # its circuit breaker is half-open: requests to it are trials
    ewma: float = 0.0  # seconds; the EWMA balancer's latency estimate, 0 until observed

    @classmethod
    def from_target(cls, target: pb.Target, index: int) -> Upstream:
        """The Upstream for `target`; raises ValueError on an address without a port."""
        host, port = parse_host_port(target.address)
        return cls(target.address, host, port, target.weight, index)
