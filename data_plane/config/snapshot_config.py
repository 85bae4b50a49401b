"""The config a Snapshot was built from, in the file shape: `build_snapshot` read backwards.

A release is stored as its Snapshot; to export an old release so that it can be applied
again, or to show it to an operator in the words of the file, the snapshot's entities
are turned back into specs. The snapshot says "not set" with zero values (a route's
timeout of 0 is its service's, an empty rewrite is none), and this module reads them
so: `build_snapshot(snapshot_config(s))` has the hash of `s`. API keys come back as
their hashes, as the store keeps them; certificates come back with their keys, which
the file shape shows as `key_sha256` unless secrets are asked for.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fleetgate_pb import config_pb2 as pb

from . import defaults
from .model import ENTITY_KINDS, GatewayConfig
from .snapshot import HASH_SOURCES, HEADER_MATCH_KINDS, LOAD_BALANCERS

_LOAD_BALANCER_NAMES = {number: name for name, number in LOAD_BALANCERS.items()}
_HASH_SOURCE_NAMES = {number: name for name, number in HASH_SOURCES.items()}
_HEADER_MATCH_NAMES = {number: name for name, number in HEADER_MATCH_KINDS.items()}

Body = dict[str, Any]


def snapshot_config(snapshot: pb.Snapshot) -> GatewayConfig:
    """The GatewayConfig whose snapshot is `snapshot` (release metadata aside)."""
    return GatewayConfig.model_validate(
        {
            kind: [_READERS[kind](entity) for entity in getattr(snapshot, kind)]
            for kind in ENTITY_KINDS
        }
    )


def _set(value: Any) -> Any:
    """A proto scalar as the spec's optional value: zero values are "not set"."""
    return value if value else None


def _timeouts(message: pb.Timeouts) -> Body:
    return {
        "connect": _set(message.connect),
        "read": _set(message.read),
        "total": _set(message.total),
    }


def _service(service: pb.Service) -> Body:
    body: Body = {
        "name": service.name,
        "targets": [{"address": t.address, "weight": t.weight} for t in service.targets],
        "load_balancer": _LOAD_BALANCER_NAMES[service.load_balancer],
        "timeouts": _timeouts(service.timeouts),
        "retries": service.retries,
        "max_concurrent_requests": _set(service.max_concurrent_requests),
        "tags": list(service.tags),
    }
    if service.HasField("hash_key"):
        body["hash_key"] = {
            "source": _HASH_SOURCE_NAMES[service.hash_key.source],
            "name": _set(service.hash_key.name),
        }
    if service.HasField("health_check") and service.health_check.enabled:
        check = service.health_check
        body["health_check"] = {
            "path": check.path,
            "interval": check.interval,
            "timeout": check.timeout,
            "healthy_threshold": check.healthy_threshold,
            "unhealthy_threshold": check.unhealthy_threshold,
            "expected_statuses": list(check.expected_statuses),
        }
    if service.HasField("tls"):
        tls = service.tls
        body["tls"] = {
            "verify": tls.verify,
            "ca": _set(tls.ca),
            "sni": _set(tls.sni),
            "client_cert": _set(tls.client_cert),
            "client_key": _set(tls.client_key),
        }
    if service.HasField("circuit_breaker") and service.circuit_breaker.enabled:
        breaker = service.circuit_breaker
        body["circuit_breaker"] = {
            "failure_threshold": breaker.failure_threshold,
            "recovery_time": breaker.recovery_time,
            "half_open_requests": breaker.half_open_requests,
        }
    return body


def _header_changes(message: pb.HeaderChanges) -> Body:
    return {"set": dict(message.set), "add": dict(message.add), "remove": list(message.remove)}


def _auth(auth: pb.AuthPolicy) -> Body:
    body: Body = {
        "methods": list(auth.methods),
        "api_key_header": auth.api_key_header,
        "api_key_query": _set(auth.api_key_query),
        "roles": list(auth.roles),
        "anonymous": auth.anonymous,
    }
    if auth.HasField("jwt"):
        jwt = auth.jwt
        body["jwt"] = {
            "issuer": _set(jwt.issuer),
            "audiences": list(jwt.audiences),
            "algorithms": list(jwt.algorithms),
            "jwks_url": _set(jwt.jwks_url),
            "secret": _set(jwt.secret),
            "public_keys": list(jwt.public_keys),
            "leeway": jwt.leeway,
            "roles_claim": jwt.roles_claim,
        }
    return body


def _windows(message: pb.RateLimitPolicy | pb.Tier) -> Body:
    return {
        "requests_per_second": _set(message.requests_per_second),
        "requests_per_minute": _set(message.requests_per_minute),
        "requests_per_hour": _set(message.requests_per_hour),
        "requests_per_day": _set(message.requests_per_day),
    }


def _route(route: pb.Route) -> Body:
    body: Body = {
        "name": route.name,
        "hosts": list(route.hosts),
        "paths": list(route.paths),
        "methods": list(route.methods),
        "headers": [
            {
                "name": h.name,
                "kind": _HEADER_MATCH_NAMES[h.kind],
                "value": h.value,
                "invert": h.invert,
            }
            for h in route.headers
        ],
        "priority": route.priority,
        "strip_prefix": route.strip_prefix,
        "rewrite": _set(route.rewrite),
        "service": route.service,
        "max_body_bytes": _set(route.max_body_bytes),
        "tags": list(route.tags),
        "ip_allow": list(route.ip_allow),
        "ip_deny": list(route.ip_deny),
        "https_only": route.https_only,
    }
    if route.HasField("request_headers"):
        body["request_headers"] = _header_changes(route.request_headers)
    if route.HasField("response_headers"):
        body["response_headers"] = _header_changes(route.response_headers)
    if route.HasField("timeouts"):
        body["timeouts"] = _timeouts(route.timeouts)
    if route.HasField("auth"):
        body["auth"] = _auth(route.auth)
    if route.HasField("rate_limit"):
        limit = route.rate_limit
        body["rate_limit"] = {
            **_windows(limit),
            "by": limit.by,
            "use_tier": limit.use_tier,
            "backend": limit.backend,
            "fail_mode": limit.fail_mode or "open",
            "decision_deadline": limit.decision_deadline or defaults.RATE_LIMIT_DECISION_DEADLINE,
        }
    if route.HasField("cache"):
        cache = route.cache
        body["cache"] = {
            "ttl": cache.ttl,
            "methods": list(cache.methods),
            "vary_headers": list(cache.vary_headers),
            "max_body_bytes": cache.max_body_bytes,
            "backend": cache.backend,
        }
    if route.HasField("cors"):
        cors = route.cors
        body["cors"] = {
            "allow_origins": list(cors.allow_origins),
            "allow_methods": list(cors.allow_methods),
            "allow_headers": list(cors.allow_headers),
            "expose_headers": list(cors.expose_headers),
            "allow_credentials": cors.allow_credentials,
            "max_age": cors.max_age,
        }
    if route.HasField("transform"):
        body["transform"] = {
            "add_query": dict(route.transform.add_query),
            "remove_query": list(route.transform.remove_query),
        }
    return body


def _tier(tier: pb.Tier) -> Body:
    return {
        "name": tier.name,
        **_windows(tier),
        "monthly_quota": _set(tier.monthly_quota),
        "max_concurrent_requests": _set(tier.max_concurrent_requests),
        "priority": tier.priority,
        "tags": list(tier.tags),
    }


def _tenant(tenant: pb.Tenant) -> Body:
    return {
        "name": tenant.name,
        "tier": tenant.tier,
        "metadata": dict(tenant.metadata),
        "tags": list(tenant.tags),
    }


def _consumer(consumer: pb.Consumer) -> Body:
    return {
        "name": consumer.name,
        "tenant": _set(consumer.tenant),
        "roles": list(consumer.roles),
        "api_keys": [{"id": k.id, "hash": k.hash} for k in consumer.api_keys],
        "jwt_subjects": list(consumer.jwt_subjects),
        "tags": list(consumer.tags),
    }


def _certificate(certificate: pb.Certificate) -> Body:
    return {
        "name": certificate.name,
        "cert": certificate.cert,
        "key": certificate.key,
        "snis": list(certificate.snis),
        "tags": list(certificate.tags),
    }


_READERS: dict[str, Callable[[Any], Body]] = {
    "services": _service,
    "routes": _route,
    "tiers": _tier,
    "tenants": _tenant,
    "consumers": _consumer,
    "certificates": _certificate,
}
