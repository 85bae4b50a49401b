"""API keys, roles and anonymous access on a real node, as a client and its upstream see them.

One `fleetgate data-plane` process serves routes with each variant of the `auth` policy;
the scripted upstream records what reaches it, so every refusal is also checked to have
sent nothing upstream, and every admitted request to carry who is calling and no key.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from data_plane.config.model import GatewayConfig
from data_plane.config.snapshot import build_snapshot
from data_plane.http.request import RequestHead
from data_plane.policies import Call
from data_plane.policies.auth import Auth
from data_plane.policies.consumers import ConsumerDirectory
from tests.data_plane.running_node import Response, RunningNode
from tests.data_plane.scripted_upstream import Received, ScriptedUpstream
from tests.data_plane.test_config_swap import reload

pytestmark = pytest.mark.e2e

ALICE_KEY = "alice-key-0123456789abcdef"
BOB_KEY = "bob-key-0123456789abcdef"


def gateway(upstream: str, *, bob_keys: tuple[str, ...] = (BOB_KEY,)) -> dict[str, Any]:
    def route(name: str, auth: dict[str, Any] | None) -> dict[str, Any]:
        spec: dict[str, Any] = {"name": name, "paths": [f"/{name}/**"], "service": "app"}
        if auth is not None:
            spec["auth"] = auth
        return spec

    return {
        "services": [{"name": "app", "targets": [{"address": upstream}]}],
        "routes": [
            route("keys", {"methods": ["api_key"]}),
            route("custom", {"methods": ["api_key"], "api_key_header": "X-Token"}),
            route("query", {"methods": ["api_key"], "api_key_query": "apikey"}),
            route("billing", {"methods": ["api_key"], "roles": ["billing", "ops"]}),
            route("open", {"methods": ["api_key"], "anonymous": True}),
            route("plain", None),
        ],
        "tiers": [{"name": "PRO", "requests_per_minute": 1000}],
        "tenants": [{"name": "acme", "tier": "PRO"}],
        "consumers": [
            {
                "name": "alice",
                "tenant": "acme",
                "roles": ["billing"],
                "api_keys": [{"id": "main", "key": ALICE_KEY}],
            },
            {
                "name": "bob",
                "api_keys": [{"id": f"k{i}", "key": key} for i, key in enumerate(bob_keys)],
            },
        ],
    }


@pytest.fixture(scope="module")
def node(
    upstream: ScriptedUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningNode]:
    running = RunningNode(tmp_path_factory.mktemp("auth"), gateway(upstream.address))
    running.start()
    yield running
    running.stop()


def only_request(scripted: ScriptedUpstream) -> Received:
    (request,) = scripted.wait_for(1)
    return request


def assert_unauthorized(response: Response, scripted: ScriptedUpstream) -> None:
    assert response.status == 401, response.body
    assert response.json()["error"]["code"] == "unauthorized"
    assert response.header("www-authenticate") == 'ApiKey realm="fleetgate"'
    assert scripted.received() == []


def test_a_request_without_a_key_is_401_with_a_challenge_and_never_reaches_the_upstream(
    node: RunningNode, scripted: ScriptedUpstream
) -> None:
    assert_unauthorized(node.get("/keys/x"), scripted)


def test_an_unknown_key_is_401(node: RunningNode, scripted: ScriptedUpstream) -> None:
    assert_unauthorized(node.get("/keys/x", {"x-api-key": "not-a-key-0123456789"}), scripted)
    assert_unauthorized(node.get("/keys/x", {"x-api-key": ""}), scripted)


def test_a_known_key_admits_and_the_upstream_learns_the_consumer_and_tenant_but_not_the_key(
    node: RunningNode, scripted: ScriptedUpstream
) -> None:
    response = node.get("/keys/x?a=1", {"X-API-Key": ALICE_KEY, "X-Other": "kept"})
    assert response.status == 200, response.body
    request = only_request(scripted)
    assert request.target == "/keys/x?a=1"
    assert request.all("x-consumer") == ["alice"]
    assert request.all("x-tenant") == ["acme"]
    assert request.all("x-api-key") == []
    assert request.all("x-other") == ["kept"]


def test_a_consumer_without_a_tenant_gets_no_tenant_field(
    node: RunningNode, scripted: ScriptedUpstream
) -> None:
    assert node.get("/keys/x", {"x-api-key": BOB_KEY}).status == 200
    request = only_request(scripted)
    assert (request.all("x-consumer"), request.all("x-tenant")) == (["bob"], [])


def test_forged_consumer_and_tenant_fields_are_replaced_by_the_real_ones(
    node: RunningNode, scripted: ScriptedUpstream
) -> None:
    forged = {"x-api-key": BOB_KEY, "X-Consumer": "alice", "X-Tenant": "acme"}
    assert node.get("/keys/x", forged).status == 200
    request = only_request(scripted)
    assert (request.all("x-consumer"), request.all("x-tenant")) == (["bob"], [])


def test_the_key_is_read_from_the_field_the_route_names(
    node: RunningNode, scripted: ScriptedUpstream
) -> None:
    assert node.get("/custom/x", {"x-api-key": ALICE_KEY}).status == 401
    assert node.get("/custom/x", {"x-token": ALICE_KEY}).status == 200
    request = only_request(scripted)
    assert (request.all("x-token"), request.all("x-consumer")) == ([], ["alice"])


def test_a_key_in_the_query_is_taken_out_and_the_rest_of_the_query_goes_up_as_sent(
    node: RunningNode, scripted: ScriptedUpstream
) -> None:
    response = node.get(f"/query/x?b=%2F&apikey={ALICE_KEY}&c")
    assert response.status == 200, response.body
    request = only_request(scripted)
    assert request.target == "/query/x?b=%2F&c"
    assert request.all("x-consumer") == ["alice"]
    scripted.clear()
    assert node.get(f"/query/x?apikey={ALICE_KEY}").status == 200
    assert only_request(scripted).target == "/query/x"


def test_a_percent_encoded_key_parameter_is_still_the_key(
    node: RunningNode, scripted: ScriptedUpstream
) -> None:
    assert node.get(f"/query/x?%61pikey={ALICE_KEY}&z=1").status == 200
    assert only_request(scripted).target == "/query/x?z=1"


def test_the_header_still_works_on_a_route_that_also_reads_the_query(
    node: RunningNode, scripted: ScriptedUpstream
) -> None:
    assert node.get("/query/x", {"x-api-key": BOB_KEY}).status == 200
    assert only_request(scripted).all("x-consumer") == ["bob"]


def test_two_keys_in_one_request_are_401_even_when_both_are_good(
    node: RunningNode, scripted: ScriptedUpstream
) -> None:
    both = node.request(
        b"GET /keys/x HTTP/1.1\r\nHost: gw.test\r\n"
        + f"x-api-key: {ALICE_KEY}\r\nx-api-key: {BOB_KEY}\r\n\r\n".encode()
    )
    assert_unauthorized(both, scripted)
    header_and_query = node.get(f"/query/x?apikey={ALICE_KEY}", {"x-api-key": ALICE_KEY})
    assert_unauthorized(header_and_query, scripted)


def test_a_consumer_holding_one_of_the_routes_roles_is_admitted(
    node: RunningNode, scripted: ScriptedUpstream
) -> None:
    assert node.get("/billing/x", {"x-api-key": ALICE_KEY}).status == 200
    assert only_request(scripted).all("x-consumer") == ["alice"]


def test_a_consumer_without_the_routes_roles_is_403(
    node: RunningNode, scripted: ScriptedUpstream
) -> None:
    response = node.get("/billing/x", {"x-api-key": BOB_KEY})
    assert response.status == 403
    assert response.json()["error"]["code"] == "forbidden"
    assert scripted.received() == []


def test_a_route_with_roles_needs_a_credential(
    node: RunningNode, scripted: ScriptedUpstream
) -> None:
    assert_unauthorized(node.get("/billing/x"), scripted)


def test_an_anonymous_route_admits_a_request_without_a_key_and_unlabelled(
    node: RunningNode, scripted: ScriptedUpstream
) -> None:
    response = node.get("/open/x", {"X-Consumer": "alice", "X-Tenant": "acme"})
    assert response.status == 200
    request = only_request(scripted)
    assert (request.all("x-consumer"), request.all("x-tenant")) == ([], [])


def test_an_anonymous_route_still_refuses_a_bad_key_and_labels_a_good_one(
    node: RunningNode, scripted: ScriptedUpstream
) -> None:
    assert_unauthorized(node.get("/open/x", {"x-api-key": "wrong-0123456789abcdef"}), scripted)
    assert node.get("/open/x", {"x-api-key": ALICE_KEY}).status == 200
    assert only_request(scripted).all("x-consumer") == ["alice"]


def test_a_route_without_auth_drops_forged_identity_fields_and_forwards_api_keys(
    node: RunningNode, scripted: ScriptedUpstream
) -> None:
    headers = {"X-Consumer": "alice", "X-Tenant": "acme", "x-api-key": "passed"}
    assert node.get("/plain/x", headers).status == 200
    request = only_request(scripted)
    assert (request.all("x-consumer"), request.all("x-tenant")) == ([], [])
    assert request.all("x-api-key") == ["passed"]


def test_a_revoked_key_stops_working_with_the_release_that_removes_it(
    scripted: ScriptedUpstream, tmp_path: Path
) -> None:
    second = "bob-second-0123456789abcdef"
    node = RunningNode(tmp_path, gateway(scripted.address, bob_keys=(BOB_KEY, second))).start()
    try:
        assert node.get("/keys/x", {"x-api-key": BOB_KEY}).status == 200
        assert node.get("/keys/x", {"x-api-key": second}).status == 200
        reload(node, gateway(scripted.address, bob_keys=(second,)))
        assert node.get("/keys/x", {"x-api-key": BOB_KEY}).status == 401
        assert node.get("/keys/x", {"x-api-key": second}).status == 200
    finally:
        node.stop()


def test_the_policy_tells_the_chain_who_is_calling() -> None:
    config = GatewayConfig.model_validate(gateway("127.0.0.1:9"))
    snapshot = build_snapshot(config)
    auth = Auth(snapshot.routes[0].auth, ConsumerDirectory.from_snapshot(snapshot))
    head = RequestHead(b"GET", b"/keys/x", b"1.1", True)
    head.headers = [(b"X-Api-Key", ALICE_KEY.encode())]
    call = Call(head, "10.0.0.1", b"")
    assert auth.on_request(call) is None
    assert (call.consumer, call.tenant, call.tier, call.roles) == (
        "alice",
        "acme",
        "PRO",
        {"billing"},
    )
    assert head.headers == [(b"X-Consumer", b"alice"), (b"X-Tenant", b"acme")]
