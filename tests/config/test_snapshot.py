"""Building a Snapshot from the declarative shape, and checking it."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from data_plane.config.errors import ConfigInvalid
from data_plane.config.model import GatewayConfig, RouteSpec, ServiceSpec, hash_api_key
from data_plane.config.snapshot import build_snapshot, canonical_bytes
from data_plane.config.validate import check_snapshot, raise_if_invalid

MINIMAL = {
    "services": [
        {
            "name": "users",
            "targets": [{"address": "127.0.0.1:9001", "weight": 1}],
            "timeouts": {"connect": 2.0, "read": 30.0},
            "retries": 2,
        }
    ],
    "routes": [
        {
            "name": "users-api",
            "paths": ["/api/v1/users/**"],
            "methods": ["GET", "POST"],
            "hosts": ["api.example.com"],
            "service": "users",
        }
    ],
    "tiers": [
        {"name": "FREE", "requests_per_minute": 60},
        {"name": "PRO", "requests_per_minute": 1000},
    ],
    "tenants": [{"name": "acme", "tier": "PRO"}],
}


def config(**changes: object) -> GatewayConfig:
    return GatewayConfig.model_validate({**MINIMAL, **changes})


def fields(snapshot_config: GatewayConfig) -> list[str]:
    return [e.field for e in check_snapshot(build_snapshot(snapshot_config))]


def test_the_minimal_file_builds_a_consistent_snapshot() -> None:
    snapshot = build_snapshot(config())
    assert check_snapshot(snapshot) == []
    assert [s.name for s in snapshot.services] == ["users"]
    assert snapshot.services[0].timeouts.read == 30.0
    assert len(snapshot.hash) == 64


def test_equal_content_gives_an_equal_hash_whatever_the_order_or_release() -> None:
    a = build_snapshot(config(), version=1, author="a")
    b = build_snapshot(config(tiers=list(reversed(MINIMAL["tiers"]))), version=2, author="b")
    assert a.hash == b.hash
    assert canonical_bytes(a) == canonical_bytes(b)


def test_a_changed_value_changes_the_hash() -> None:
    other = {**MINIMAL["services"][0], "retries": 3}
    assert build_snapshot(config()).hash != build_snapshot(config(services=[other])).hash


def test_unknown_fields_are_refused_naming_the_field() -> None:
    with pytest.raises(ValidationError) as exc:
        ServiceSpec.model_validate({"name": "x", "targets": [], "retires": 2})
    assert exc.value.errors()[0]["loc"] == ("retires",)


def test_a_wrong_type_is_refused_naming_the_field() -> None:
    with pytest.raises(ValidationError) as exc:
        ServiceSpec.model_validate({"name": "x", "retries": "many"})
    assert exc.value.errors()[0]["loc"] == ("retries",)


@pytest.mark.parametrize("weight", [-1, 65_536])
def test_a_weight_out_of_range_is_refused(weight: int) -> None:
    with pytest.raises(ValidationError) as exc:
        ServiceSpec.model_validate({"name": "x", "targets": [{"address": "h:1", "weight": weight}]})
    assert exc.value.errors()[0]["loc"] == ("targets", 0, "weight")


def test_a_route_to_a_missing_service_is_inconsistent() -> None:
    route = {**MINIMAL["routes"][0], "service": "nope"}
    assert fields(config(routes=[route])) == ["routes.users-api.service"]


def test_a_service_without_targets_is_inconsistent() -> None:
    assert fields(config(services=[{"name": "users"}])) == ["services.users.targets"]


def test_a_regex_that_does_not_compile_is_inconsistent() -> None:
    route = {**MINIMAL["routes"][0], "paths": ["~/api/(unclosed"]}
    assert fields(config(routes=[route])) == ["routes.users-api.paths.0"]


def test_two_routes_matching_the_same_requests_at_the_same_priority_are_inconsistent() -> None:
    twin = {**MINIMAL["routes"][0], "name": "users-twin"}
    assert fields(config(routes=[MINIMAL["routes"][0], twin])) == ["routes.users-twin.paths.0"]


def test_the_same_match_at_another_priority_is_fine() -> None:
    twin = {**MINIMAL["routes"][0], "name": "users-twin", "priority": 1}
    assert fields(config(routes=[MINIMAL["routes"][0], twin])) == []


def test_a_tenant_of_an_unknown_tier_is_inconsistent() -> None:
    assert fields(config(tenants=[{"name": "acme", "tier": "GOLD"}])) == ["tenants.acme.tier"]


def test_raise_if_invalid_carries_every_error() -> None:
    bad = config(tenants=[{"name": "acme", "tier": "GOLD"}], services=[{"name": "users"}])
    with pytest.raises(ConfigInvalid) as exc:
        raise_if_invalid(build_snapshot(bad))
    assert len(exc.value.errors) == 2


def test_api_keys_are_kept_only_as_their_hash() -> None:
    consumer = {"name": "c", "api_keys": [{"id": "k1", "key": "s3cret-0123456789abcdef"}]}
    parsed = config(consumers=[consumer])
    key = parsed.consumers[0].api_keys[0]
    assert key.hash == hash_api_key("s3cret-0123456789abcdef")
    assert "s3cret" not in str(parsed.to_file_dict())


def test_the_file_shape_round_trips() -> None:
    parsed = config()
    assert (
        GatewayConfig.model_validate(parsed.to_file_dict()).to_file_dict() == parsed.to_file_dict()
    )


def test_policies_declare_the_capabilities_a_node_needs() -> None:
    route = {**MINIMAL["routes"][0], "cache": {"ttl": 5, "backend": "redis"}}
    snapshot = build_snapshot(config(routes=[route]))
    assert list(snapshot.required_capabilities) == ["backend.redis", "policy.cache"]


def test_retry_settings_reach_the_snapshot_and_name_what_a_node_needs() -> None:
    service = {
        **MINIMAL["services"][0],
        "retry_non_idempotent": True,
        "timeouts": {"per_try": 0.5},
    }
    route = {**MINIMAL["routes"][0], "timeouts": {"per_try": 0.25}}
    snapshot = build_snapshot(config(services=[service], routes=[route]))
    assert snapshot.services[0].retry_non_idempotent
    assert (snapshot.services[0].timeouts.per_try, snapshot.routes[0].timeouts.per_try) == (
        0.5,
        0.25,
    )
    assert list(snapshot.required_capabilities) == [
        "service.retry_non_idempotent",
        "timeouts.per_try",
    ]
    assert list(build_snapshot(config()).required_capabilities) == []


def test_methods_are_upper_cased_and_checked() -> None:
    route = RouteSpec.model_validate(
        {"name": "r", "paths": ["/"], "service": "s", "methods": ["get"]}
    )
    assert route.methods == ["GET"]
    with pytest.raises(ValidationError):
        RouteSpec.model_validate(
            {"name": "r", "paths": ["/"], "service": "s", "methods": ["FETCH"]}
        )


def test_what_the_node_route_table_refuses_is_refused_by_the_checks_too() -> None:
    route = {**MINIMAL["routes"][0], "strip_prefix": True, "rewrite": "/v2"}
    assert fields(config(routes=[route])) == ["routes.users-api.rewrite"]
