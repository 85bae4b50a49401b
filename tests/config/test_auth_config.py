"""The `auth` policy and consumers in the config: what is refused, and what a node needs."""

from __future__ import annotations

from typing import Any

import pytest
from fleetgate_pb import config_pb2 as pb
from pydantic import ValidationError

from data_plane.capabilities import CAPABILITIES, check_capabilities
from data_plane.config.model import AuthSpec, GatewayConfig, hash_api_key
from data_plane.config.snapshot import build_snapshot
from data_plane.config.validate import check_snapshot
from data_plane.policies.consumers import ConsumerDirectory

SERVICE = {"name": "app", "targets": [{"address": "127.0.0.1:9001"}]}


def route(**auth: Any) -> dict[str, Any]:
    return {"name": "r", "paths": ["/**"], "service": "app", "auth": auth}


def test_the_api_key_field_is_lower_cased_and_may_not_be_a_gateway_field() -> None:
    assert AuthSpec(methods=["api_key"], api_key_header="X-Token").api_key_header == "x-token"
    for name in ("x-consumer", "Host", "content-length", "x api key", ""):
        with pytest.raises(ValidationError):
            AuthSpec(methods=["api_key"], api_key_header=name)


def test_the_api_key_parameter_is_an_unreserved_name() -> None:
    assert AuthSpec(methods=["api_key"], api_key_query="api.key_1~").api_key_query == "api.key_1~"
    for name in ("a&b", "a=b", "", "k%20", "x" * 129):
        with pytest.raises(ValidationError):
            AuthSpec(methods=["api_key"], api_key_query=name)


def test_a_crafted_snapshot_with_a_bad_auth_policy_is_refused_by_the_shared_checks() -> None:
    snapshot = build_snapshot(GatewayConfig.model_validate({"services": [SERVICE]}))
    snapshot.routes.add(
        name="r",
        paths=["/**"],
        service="app",
        auth=pb.AuthPolicy(
            methods=["api_key", "magic"], api_key_header="x-tenant", api_key_query="a&b"
        ),
    )
    snapshot.routes.add(name="s", paths=["/s"], service="app", auth=pb.AuthPolicy())
    assert sorted(error.field for error in check_snapshot(snapshot)) == [
        "routes.r.auth.api_key_header",
        "routes.r.auth.api_key_query",
        "routes.r.auth.methods.1",
        "routes.s.auth.methods",
    ]


def test_a_jwt_subject_belongs_to_one_consumer() -> None:
    config = GatewayConfig.model_validate(
        {
            "consumers": [
                {"name": "a", "jwt_subjects": ["user-1"]},
                {"name": "b", "jwt_subjects": ["user-2", "user-1"]},
            ]
        }
    )
    assert [error.field for error in check_snapshot(build_snapshot(config))] == [
        "consumers.b.jwt_subjects.1"
    ]


def test_a_node_serves_api_key_auth() -> None:
    config = GatewayConfig.model_validate(
        {"services": [SERVICE], "routes": [route(methods=["api_key"])]}
    )
    snapshot = build_snapshot(config)
    assert list(snapshot.required_capabilities) == ["policy.auth"]
    check_capabilities(snapshot, CAPABILITIES)


def test_the_directory_finds_consumers_by_key_with_their_tenant_and_tier() -> None:
    config = GatewayConfig.model_validate(
        {
            "tiers": [{"name": "PRO"}],
            "tenants": [{"name": "acme", "tier": "PRO"}],
            "consumers": [
                {
                    "name": "alice",
                    "tenant": "acme",
                    "roles": ["billing"],
                    "api_keys": [{"id": "k", "key": "alice-0123456789abcdef"}],
                    "jwt_subjects": ["alice@example.com"],
                },
                {
                    "name": "bob",
                    "api_keys": [{"id": "k", "hash": hash_api_key("bob-0123456789abc")}],
                },
            ],
        }
    )
    directory = ConsumerDirectory.from_snapshot(build_snapshot(config))
    alice = directory.by_api_key(b"alice-0123456789abcdef")
    assert alice is not None
    assert (alice.name, alice.tenant, alice.tier, alice.roles) == (
        "alice",
        "acme",
        "PRO",
        {"billing"},
    )
    assert alice.fields == ((b"X-Consumer", b"alice"), (b"X-Tenant", b"acme"))
    assert directory.by_subject["alice@example.com"] is alice
    bob = directory.by_api_key(b"bob-0123456789abc")
    assert bob is not None and (bob.tenant, bob.tier, bob.fields) == (
        None,
        None,
        ((b"X-Consumer", b"bob"),),
    )
    assert directory.by_api_key(b"alice-0123456789abcde") is None
