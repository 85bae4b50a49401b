"""The control plane's Prometheus metrics, in a registry of its own.

Other parts of the control plane (config sync) register their metrics in the same
`registry`, so `/metrics` on the admin port shows them all.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from data_plane.config.certificates import EXPIRY_WARNING, check_chain

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
        # Certificate name -> expiry (UNIX seconds) in the latest release.
        self._expiries: dict[str, float] = {}
        self.certificate_expiry = Gauge(
            "fleetgate_certificate_expiry_timestamp_seconds",
            "When each certificate of the latest release expires (UNIX seconds).",
            ["certificate"],
            registry=self.registry,
        )
        self.certificates_expiring = Gauge(
            "fleetgate_certificates_expiring",
            "Certificates of the latest release that expire within 30 days or have expired.",
            registry=self.registry,
        )
        self.certificates_expiring.set_function(self._count_expiring)

    def _count_expiring(self) -> float:
        horizon = time.time() + EXPIRY_WARNING.total_seconds()
        return sum(1 for at in self._expiries.values() if at <= horizon)

    def observe_certificates(self, release: Release) -> None:
        """The expiry of every certificate `release` serves, replacing those of the last."""
        expiries = {}
        for certificate in release.message().certificates:
            try:
                _, facts = check_chain(certificate.cert)
            except ValueError:
                continue  # a release holds only checked chains; nothing to show otherwise
            expiries[certificate.name] = facts.not_after.timestamp()
        for gone in self._expiries.keys() - expiries.keys():
            self.certificate_expiry.remove(gone)
        for name, at in expiries.items():
            self.certificate_expiry.labels(name).set(at)
        self._expiries = expiries

    def observe_admin_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.admin_requests.labels(method, route, str(status)).inc()
        self.admin_latency.labels(method, route).observe(seconds)

    def observe_release(self, release: Release) -> None:
        self.releases.inc()
        self.release_version.set(release.version)
        self.observe_certificates(release)

    def render(self) -> bytes:
        return generate_latest(self.registry)
