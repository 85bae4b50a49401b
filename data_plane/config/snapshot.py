"""Build a Snapshot from the declarative config, and its canonical bytes and hash.

Pure functions: the control plane builds releases with them, a standalone node builds
its snapshot from `--config FILE` with them. Equal content gives equal bytes, so equal
hashes: entities are sorted by name and maps serialized deterministically; the
version, hash, creation time and author are left out of the hashed bytes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Protocol, TypeVar

from fleetgate_pb import config_pb2 as pb

from .model import (
    AuthSpec,
    CacheSpec,
    CertificateSpec,
    CircuitBreakerSpec,
    ConsumerSpec,
    CorsSpec,
    GatewayConfig,
    HeaderChangesSpec,
    HealthCheckSpec,
    RateLimitSpec,
    RouteSpec,
    RouteTimeoutsSpec,
    ServiceSpec,
    TenantSpec,
    TierSpec,
    TimeoutsSpec,
    TransformSpec,
)

LOAD_BALANCERS = {
    "round_robin": pb.ROUND_ROBIN,
    "weighted_round_robin": pb.WEIGHTED_ROUND_ROBIN,
    "least_connections": pb.LEAST_CONNECTIONS,
    "random": pb.RANDOM,
    "ewma": pb.EWMA,
    "consistent_hash": pb.CONSISTENT_HASH,
}
HASH_SOURCES = {
    "client_ip": pb.HashKey.CLIENT_IP,
    "header": pb.HashKey.HEADER,
    "cookie": pb.HashKey.COOKIE,
}
HEADER_MATCH_KINDS = {
    "exact": pb.HeaderMatch.EXACT,
    "prefix": pb.HeaderMatch.PREFIX,
    "regex": pb.HeaderMatch.REGEX,
    "present": pb.HeaderMatch.PRESENT,
}
# Fields of Snapshot that describe a release rather than its content.
RELEASE_FIELDS = ("version", "hash", "created_at_ms", "author")


def build_snapshot(
    config: GatewayConfig, *, version: int = 0, created_at_ms: int = 0, author: str = ""
) -> pb.Snapshot:
    """The Snapshot for `config`, hashed; `check_snapshot` tells whether it is consistent."""
    snapshot = pb.Snapshot(version=version, created_at_ms=created_at_ms, author=author)
    snapshot.services.extend(_service(s) for s in _by_name(config.services))
    snapshot.routes.extend(_route(r) for r in _by_name(config.routes))
    snapshot.tiers.extend(_tier(t) for t in _by_name(config.tiers))
    snapshot.tenants.extend(_tenant(t) for t in _by_name(config.tenants))
    snapshot.consumers.extend(_consumer(c) for c in _by_name(config.consumers))
    snapshot.certificates.extend(_certificate(c) for c in _by_name(config.certificates))
    snapshot.required_capabilities.extend(sorted(required_capabilities(snapshot)))
    snapshot.hash = content_hash(snapshot)
    return snapshot


def canonical_bytes(snapshot: pb.Snapshot) -> bytes:
    """The content of `snapshot` as deterministic bytes, release metadata left out."""
    content = pb.Snapshot()
    content.CopyFrom(snapshot)
    for field in RELEASE_FIELDS:
        content.ClearField(field)
    return content.SerializeToString(deterministic=True)


def content_hash(snapshot: pb.Snapshot) -> str:
    return hashlib.sha256(canonical_bytes(snapshot)).hexdigest()


def required_capabilities(snapshot: pb.Snapshot) -> set[str]:
    """Features a node must implement to serve `snapshot` as written."""
    return {capability for _, capability in capability_needs(snapshot)}


def capability_needs(snapshot: pb.Snapshot) -> list[tuple[str, str]]:
    """Each feature `snapshot` uses, as (the field that uses it, the capability it needs).

    The field names the entity in the file shape (`routes.users-api.cache`), so that a
    refusal can say which entity a node could not serve.
    """
    needs: list[tuple[str, str]] = []
    for certificate in snapshot.certificates:
        needs.append((f"certificates.{certificate.name}", "tls.certificates"))
    for route in snapshot.routes:
        where = f"routes.{route.name}"
        if route.https_only:
            needs.append((f"{where}.https_only", "route.https_only"))
        for policy in ("auth", "rate_limit", "cache", "cors", "transform"):
            if route.HasField(policy):
                needs.append((f"{where}.{policy}", f"policy.{policy}"))
        if route.HasField("rate_limit") and route.rate_limit.backend == "redis":
            needs.append((f"{where}.rate_limit.backend", "backend.redis"))
        if route.HasField("cache") and route.cache.backend == "redis":
            needs.append((f"{where}.cache.backend", "backend.redis"))
        if route.ip_allow or route.ip_deny:
            needs.append((f"{where}.ip_allow", "policy.ip_filter"))
        if route.HasField("auth") and "jwt" in route.auth.methods:
            needs.append((f"{where}.auth.jwt", "auth.jwt"))
            if route.auth.jwt.jwks_url:
                needs.append((f"{where}.auth.jwt.jwks_url", "auth.jwks"))
        if route.timeouts.per_try:
            needs.append((f"{where}.timeouts.per_try", "timeouts.per_try"))
    for service in snapshot.services:
        where = f"services.{service.name}"
        if service.timeouts.per_try:
            needs.append((f"{where}.timeouts.per_try", "timeouts.per_try"))
        if service.HasField("tls"):
            needs.append((f"{where}.tls", "service.tls"))
        if service.retry_non_idempotent:
            needs.append((f"{where}.retry_non_idempotent", "service.retry_non_idempotent"))
        if service.HasField("health_check") and service.health_check.enabled:
            needs.append((f"{where}.health_check", "service.health_check"))
        if service.HasField("circuit_breaker") and service.circuit_breaker.enabled:
            needs.append((f"{where}.circuit_breaker", "service.circuit_breaker"))
    return needs


# ---------------------------------------------------------------- per entity


class _Named(Protocol):
    name: str


_N = TypeVar("_N", bound=_Named)


def _by_name(items: Iterable[_N]) -> list[_N]:
    return sorted(items, key=lambda item: item.name)


def _timeouts(spec: TimeoutsSpec | RouteTimeoutsSpec) -> pb.Timeouts:
    # 0 is "unset": a route's unset timeout is its service's, a service's total is none.
    return pb.Timeouts(
        connect=spec.connect or 0.0,
        read=spec.read or 0.0,
        total=spec.total or 0.0,
        per_try=spec.per_try or 0.0,
    )


def _health_check(spec: HealthCheckSpec) -> pb.HealthCheck:
    return pb.HealthCheck(
        enabled=True,
        path=spec.path,
        interval=spec.interval,
        timeout=spec.timeout,
        healthy_threshold=spec.healthy_threshold,
        unhealthy_threshold=spec.unhealthy_threshold,
        expected_statuses=spec.expected_statuses,
    )


def _circuit_breaker(spec: CircuitBreakerSpec) -> pb.CircuitBreaker:
    return pb.CircuitBreaker(
        enabled=True,
        failure_threshold=spec.failure_threshold,
        recovery_time=spec.recovery_time,
        half_open_requests=spec.half_open_requests,
    )


def _service(spec: ServiceSpec) -> pb.Service:
    service = pb.Service(
        name=spec.name,
        targets=[pb.Target(address=t.address, weight=t.weight) for t in spec.targets],
        load_balancer=LOAD_BALANCERS[spec.load_balancer],
        timeouts=_timeouts(spec.timeouts),
        retries=spec.retries,
        retry_non_idempotent=spec.retry_non_idempotent,
        max_concurrent_requests=spec.max_concurrent_requests or 0,
        tags=spec.tags,
    )
    if spec.hash_key is not None:
        service.hash_key.CopyFrom(
            pb.HashKey(source=HASH_SOURCES[spec.hash_key.source], name=spec.hash_key.name or "")
        )
    if spec.health_check is not None:
        service.health_check.CopyFrom(_health_check(spec.health_check))
    if spec.circuit_breaker is not None:
        service.circuit_breaker.CopyFrom(_circuit_breaker(spec.circuit_breaker))
    if spec.tls is not None:
        service.tls.CopyFrom(
            pb.UpstreamTls(
                verify=spec.tls.verify,
                ca=spec.tls.ca or "",
                sni=spec.tls.sni or "",
                client_cert=spec.tls.client_cert or "",
                client_key=spec.tls.client_key or "",
            )
        )
    return service


def _header_changes(spec: HeaderChangesSpec) -> pb.HeaderChanges:
    return pb.HeaderChanges(set=spec.set, add=spec.add, remove=spec.remove)


def _auth(spec: AuthSpec) -> pb.AuthPolicy:
    auth = pb.AuthPolicy(
        methods=spec.methods,
        api_key_header=spec.api_key_header.lower(),
        api_key_query=spec.api_key_query or "",
        roles=spec.roles,
        anonymous=spec.anonymous,
    )
    if spec.jwt is not None:
        auth.jwt.CopyFrom(
            pb.JwtSettings(
                issuer=spec.jwt.issuer or "",
                audiences=spec.jwt.audiences,
                algorithms=spec.jwt.algorithms,
                jwks_url=spec.jwt.jwks_url or "",
                secret=spec.jwt.secret or "",
                public_keys=spec.jwt.public_keys,
                leeway=spec.jwt.leeway,
                roles_claim=spec.jwt.roles_claim,
            )
        )
    return auth


def _rate_limit(spec: RateLimitSpec) -> pb.RateLimitPolicy:
    return pb.RateLimitPolicy(
        requests_per_second=spec.requests_per_second or 0,
        requests_per_minute=spec.requests_per_minute or 0,
        requests_per_hour=spec.requests_per_hour or 0,
        requests_per_day=spec.requests_per_day or 0,
        by=spec.by,
        use_tier=spec.use_tier,
        backend=spec.backend,
        fail_mode=spec.fail_mode,
        decision_deadline=spec.decision_deadline,
    )


def _cache(spec: CacheSpec) -> pb.CachePolicy:
    return pb.CachePolicy(
        ttl=spec.ttl,
        methods=spec.methods,
        vary_headers=[h.lower() for h in spec.vary_headers],
        max_body_bytes=spec.max_body_bytes,
        backend=spec.backend,
    )


def _cors(spec: CorsSpec) -> pb.CorsPolicy:
    return pb.CorsPolicy(
        allow_origins=spec.allow_origins,
        allow_methods=spec.allow_methods,
        allow_headers=spec.allow_headers,
        expose_headers=spec.expose_headers,
        allow_credentials=spec.allow_credentials,
        max_age=spec.max_age,
    )


def _transform(spec: TransformSpec) -> pb.TransformPolicy:
    return pb.TransformPolicy(add_query=spec.add_query, remove_query=spec.remove_query)


def _route(spec: RouteSpec) -> pb.Route:
    route = pb.Route(
        name=spec.name,
        hosts=spec.hosts,
        paths=spec.paths,
        methods=spec.methods,
        headers=[
            pb.HeaderMatch(
                name=h.name, kind=HEADER_MATCH_KINDS[h.kind], value=h.value, invert=h.invert
            )
            for h in spec.headers
        ],
        priority=spec.priority,
        strip_prefix=spec.strip_prefix,
        rewrite=spec.rewrite or "",
        service=spec.service,
        max_body_bytes=spec.max_body_bytes or 0,
        tags=spec.tags,
        ip_allow=spec.ip_allow,
        ip_deny=spec.ip_deny,
        https_only=spec.https_only,
    )
    if spec.request_headers is not None:
        route.request_headers.CopyFrom(_header_changes(spec.request_headers))
    if spec.response_headers is not None:
        route.response_headers.CopyFrom(_header_changes(spec.response_headers))
    if spec.timeouts is not None:
        route.timeouts.CopyFrom(_timeouts(spec.timeouts))
    if spec.auth is not None:
        route.auth.CopyFrom(_auth(spec.auth))
    if spec.rate_limit is not None:
        route.rate_limit.CopyFrom(_rate_limit(spec.rate_limit))
    if spec.cache is not None:
        route.cache.CopyFrom(_cache(spec.cache))
    if spec.cors is not None:
        route.cors.CopyFrom(_cors(spec.cors))
    if spec.transform is not None:
        route.transform.CopyFrom(_transform(spec.transform))
    return route


def _tier(spec: TierSpec) -> pb.Tier:
    return pb.Tier(
        name=spec.name,
        requests_per_second=spec.requests_per_second or 0,
        requests_per_minute=spec.requests_per_minute or 0,
        requests_per_hour=spec.requests_per_hour or 0,
        requests_per_day=spec.requests_per_day or 0,
        monthly_quota=spec.monthly_quota or 0,
        max_concurrent_requests=spec.max_concurrent_requests or 0,
        priority=spec.priority,
        tags=spec.tags,
    )


def _tenant(spec: TenantSpec) -> pb.Tenant:
    return pb.Tenant(name=spec.name, tier=spec.tier, metadata=spec.metadata, tags=spec.tags)


def _consumer(spec: ConsumerSpec) -> pb.Consumer:
    return pb.Consumer(
        name=spec.name,
        tenant=spec.tenant or "",
        roles=spec.roles,
        api_keys=[pb.ApiKey(id=k.id, hash=k.hash or "") for k in spec.api_keys],
        jwt_subjects=spec.jwt_subjects,
        tags=spec.tags,
    )


def _certificate(spec: CertificateSpec) -> pb.Certificate:
    # A spec without its key (a file that kept the stored one) is built with an empty
    # key; the checks refuse it, so it never reaches a node.
    return pb.Certificate(
        name=spec.name, cert=spec.cert, key=spec.key or "", snis=spec.snis, tags=spec.tags
    )
