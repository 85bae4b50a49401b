"""The control plane's Prometheus metrics, in a registry of its own.

Other parts of the control plane (config sync) register their metrics in the same
`registry`, so `/metrics` on the admin port shows them all.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from .store.releases import Release

# Admin calls are database-bound: from a cached read to a 10,000-route apply.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class ControlPlaneMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.admin_requests = Counter(
            "fleetgate_admin_requests",
            "Admin API requests, by method, route template and status code.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.admin_latency = Histogram(
            "fleetgate_admin_request_duration_seconds",
            "Time to answer an admin API request, by method and route template.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.releases = Counter(
            "fleetgate_releases",
            "Releases made by this control-plane process.",
            registry=self.registry,
        )
        self.release_version = Gauge(
            "fleetgate_release_version",
            "Version of the latest release this control plane knows of (0: none yet).",
            registry=self.registry,
        )

    def observe_admin_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.admin_requests.labels(method, route, str(status)).inc()
        self.admin_latency.labels(method, route).observe(seconds)

    def observe_release(self, release: Release) -> None:
        self.releases.inc()
        self.release_version.set(release.version)

    def render(self) -> bytes:
        return generate_latest(self.registry)
