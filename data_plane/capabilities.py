"""What this node can serve, and the refusal of a snapshot that needs more.

A snapshot lists the features it needs in `required_capabilities` (see
`data_plane.config.snapshot.required_capabilities`). A node that lacks one must not
serve the snapshot half-understood: it refuses it, naming what is missing, and keeps
serving what it has. That refusal is how a node NACKs a release it cannot serve. The
set grows as policies (auth, rate limits, caching, CORS, transforms), health checks
and circuit breakers land in the data plane.
"""

from __future__ import annotations

from fleetgate_pb import config_pb2 as pb

CAPABILITIES: frozenset[str] = frozenset(
    {
        "auth.jwks",
        "auth.jwt",
        "backend.redis",
        "policy.auth",
        "policy.cors",
        "policy.ip_filter",
        "policy.rate_limit",
        "policy.transform",
        "route.https_only",
        "service.circuit_breaker",
        "service.health_check",
        "service.retry_non_idempotent",
        "service.tls",
        "timeouts.per_try",
        "tls.certificates",
    }
)


class ApplyError(ValueError):
    """A snapshot this node will not apply, with a readable reason."""


def check_capabilities(snapshot: pb.Snapshot, capabilities: frozenset[str] = CAPABILITIES) -> None:
    """Raise ApplyError naming every capability `snapshot` needs and this node lacks."""
    missing = sorted(set(snapshot.required_capabilities) - capabilities)
    if missing:
        raise ApplyError(
            f"this node cannot serve snapshot v{snapshot.version}: it needs "
            f"{', '.join(missing)}, which this node does not support"
        )
