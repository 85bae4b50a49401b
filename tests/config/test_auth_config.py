"""The `auth` policy and consumers in the config: what is refused, and what a node needs."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fleetgate_pb import config_pb2 as pb
from pydantic import ValidationError

from data_plane.capabilities import CAPABILITIES, check_capabilities
from data_plane.config.model import AuthSpec, GatewayConfig, hash_api_key
from data_plane.config.snapshot import build_snapshot
from data_plane.config.validate import check_snapshot
from data_plane.policies import consumers
from data_plane.policies.consumers import ConsumerDirectory
from tests.data_plane.jwt_material import SECRET, public_pem

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


def test_the_directory_remembers_known_keys_as_presented_and_never_unknown_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key = b"alice-0123456789abcdef"
    config = GatewayConfig.model_validate(
        {"consumers": [{"name": "alice", "api_keys": [{"id": "k", "key": key.decode()}]}]}
    )
    directory = ConsumerDirectory.from_snapshot(build_snapshot(config))
    alice = directory.by_api_key(key)
    assert alice is not None and directory.by_api_key(key) is alice
    for n in range(5):
        assert directory.by_api_key(b"made-up-%d" % n) is None
    assert list(directory.known) == [key]
    # Bounded: a full memory is forgotten at once, and the digest still answers.
    monkeypatch.setattr(consumers, "KNOWN_KEYS_KEPT", 1)
    directory.known = {b"another": alice}
    assert directory.by_api_key(key) is alice
    assert list(directory.known) == [key]


def jwt_route(**jwt: Any) -> dict[str, Any]:
    return route(methods=["jwt"], jwt=jwt)


def jwt_problem(**jwt: Any) -> str:
    with pytest.raises(ValidationError) as caught:
        GatewayConfig.model_validate({"services": [SERVICE], "routes": [jwt_route(**jwt)]})
    return str(caught.value)


def test_each_listed_algorithm_needs_a_key_of_its_family() -> None:
    assert "secret" in jwt_problem(algorithms=["HS256"])
    assert "RS256" in jwt_problem(algorithms=["RS256"])
    assert "ES384" in jwt_problem(algorithms=["ES384"], public_keys=[public_pem("p256")])
    assert "only used by HS" in jwt_problem(
        algorithms=["RS256"], secret=SECRET, jwks_url="http://a"
    )
    assert "only used by RS" in jwt_problem(
        algorithms=["HS256"], secret=SECRET, jwks_url="http://a"
    )
    assert "at least 32" in jwt_problem(algorithms=["HS256"], secret="short")
    assert "none" not in str(AuthSpec.model_json_schema())  # the only algorithms listed
    assert "Input should be" in jwt_problem(algorithms=["none"], jwks_url="http://a")


def test_public_keys_must_load_and_rsa_ones_be_2048_bits_or_more() -> None:
    assert "not a PEM" in jwt_problem(public_keys=["-----BEGIN PUBLIC KEY-----\nAAAA\n"])
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()
    pem = weak.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()
    assert "1024 bits" in jwt_problem(public_keys=[pem])


def test_a_node_serves_jwt_with_keys_and_names_jwks_as_its_own_capability() -> None:
    keyed = jwt_route(
        algorithms=["ES256", "EdDSA"], public_keys=[public_pem(k) for k in ("p256", "ed25519")]
    )
    snapshot = build_snapshot(
        GatewayConfig.model_validate({"services": [SERVICE], "routes": [keyed]})
    )
    assert list(snapshot.required_capabilities) == ["auth.jwt", "policy.auth"]
    assert check_snapshot(snapshot) == []
    fetched = jwt_route(jwks_url="https://login.test/jwks.json")
    snapshot = build_snapshot(
        GatewayConfig.model_validate({"services": [SERVICE], "routes": [fetched]})
    )
    assert "auth.jwks" in snapshot.required_capabilities


def test_a_crafted_snapshot_with_bad_jwt_settings_is_refused_by_the_shared_checks() -> None:
    snapshot = build_snapshot(GatewayConfig.model_validate({"services": [SERVICE]}))
    settings = pb.JwtSettings(
        algorithms=["RS256"], public_keys=["not a key"], leeway=-1, jwks_url="file:///etc/passwd"
    )
    snapshot.routes.add(
        name="r", paths=["/**"], service="app", auth=pb.AuthPolicy(methods=["jwt"], jwt=settings)
    )
    snapshot.routes.add(name="s", paths=["/s"], service="app", auth=pb.AuthPolicy(methods=["jwt"]))
    assert sorted(error.field for error in check_snapshot(snapshot)) == [
        "routes.r.auth.jwt.jwks_url",
        "routes.r.auth.jwt.leeway",
        "routes.r.auth.jwt.public_keys.0",
        "routes.s.auth.jwt",
    ]
