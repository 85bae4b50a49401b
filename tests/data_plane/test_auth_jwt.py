"""JWT on a real node: tokens admitted and labelled, every listed attack a 401 that sends
nothing upstream, roles from the consumer and the token."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.data_plane.jwt_material import (
    SECRET,
    forged,
    hs256_with,
    public_pem,
    token,
)
from tests.data_plane.running_node import Response, RunningNode
from tests.data_plane.scripted_upstream import Received, ScriptedUpstream

pytestmark = pytest.mark.e2e

ISSUER = "https://login.test/"
BOB_KEY = "bob-key-0123456789abcdef"


def rs_jwt(**more: Any) -> dict[str, Any]:
    return {
        "algorithms": ["RS256", "ES256"],
        "public_keys": [public_pem("rsa"), public_pem("p256")],
        "issuer": ISSUER,
        "audiences": ["api"],
        **more,
    }


def gateway(upstream: str) -> dict[str, Any]:
    def route(name: str, **auth: Any) -> dict[str, Any]:
        return {"name": name, "paths": [f"/{name}/**"], "service": "app", "auth": auth}

    return {
        "services": [{"name": "app", "targets": [{"address": upstream}]}],
        "routes": [
            route("rs", methods=["jwt"], jwt=rs_jwt()),
            route("hs", methods=["jwt"], jwt={"algorithms": ["HS256"], "secret": SECRET}),
            route("either", methods=["api_key", "jwt"], jwt=rs_jwt()),
            route("admins", methods=["jwt"], roles=["admin"], jwt=rs_jwt()),
            route("open", methods=["jwt"], anonymous=True, jwt=rs_jwt()),
        ],
        "tiers": [{"name": "PRO"}],
        "tenants": [{"name": "acme", "tier": "PRO"}],
        "consumers": [
            {
                "name": "alice",
                "tenant": "acme",
                "roles": ["billing"],
                "jwt_subjects": ["alice@example.com"],
            },
            {"name": "bob", "api_keys": [{"id": "k", "key": BOB_KEY}]},
        ],
    }


@pytest.fixture(scope="module")
def node(
    upstream: ScriptedUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningNode]:
    running = RunningNode(tmp_path_factory.mktemp("jwt"), gateway(upstream.address))
    running.start()
    yield running
    running.stop()


def claims(**more: Any) -> dict[str, Any]:
    return {
        "sub": "alice@example.com",
        "iss": ISSUER,
        "aud": "api",
        "exp": int(time.time()) + 300,
        **more,
    }


def bearer(text: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {text}"}


def only_request(scripted: ScriptedUpstream) -> Received:
    (request,) = scripted.wait_for(1)
    return request


def assert_refused(response: Response, scripted: ScriptedUpstream, *, invalid: bool) -> None:
    assert response.status == 401, response.body
    assert response.json()["error"]["code"] == "unauthorized"
    challenge = 'Bearer realm="fleetgate"' + (', error="invalid_token"' if invalid else "")
    assert challenge in [v for k, v in response.headers if k.lower() == "www-authenticate"]
    assert scripted.received() == []


def test_a_good_token_admits_as_the_consumer_its_subject_names(
    node: RunningNode, scripted: ScriptedUpstream
) -> None:
    text = token(claims())
    response = node.get("/rs/x", bearer(text))
    assert response.status == 200, response.body
    request = only_request(scripted)
    assert (request.all("x-consumer"), request.all("x-tenant")) == (["alice"], ["acme"])
    assert request.all("authorization") == [f"Bearer {text}"]


def test_a_repeat_token_is_admitted_again(node: RunningNode, scripted: ScriptedUpstream) -> None:
    text = token(claims())
    for _ in range(3):
        assert node.get("/rs/x", bearer(text)).status == 200
    assert len(scripted.wait_for(3)) == 3


def test_each_listed_algorithm_with_its_key_is_admitted(
    node: RunningNode, scripted: ScriptedUpstream
) -> None:
    assert node.get("/rs/x", bearer(token(claims(), "ES256"))).status == 200
    assert node.get("/hs/x", bearer(token({"sub": "x"}, "HS256"))).status == 200


def test_a_good_token_of_an_unknown_subject_is_admitted_unlabelled(
    node: RunningNode, scripted: ScriptedUpstream
) -> None:
    assert node.get("/rs/x", bearer(token(claims(sub="stranger")))).status == 200
    assert only_request(scripted).all("x-consumer") == []


def test_no_token_is_401_with_a_bearer_challenge(
    node: RunningNode, scripted: ScriptedUpstream
) -> None:
    assert_refused(node.get("/rs/x"), scripted, invalid=False)


ATTACKS = {
    "alg none": lambda: forged({"alg": "none"}, claims()),
    "HS token keyed with the RS public key": lambda: hs256_with(
        public_pem("rsa").encode(), {"alg": "HS256"}, claims()
    ),
    "unlisted algorithm": lambda: token(claims(), "RS384"),
    "over 8 KiB": lambda: token(claims(pad="x" * 8200)),
    "kid with a path": lambda: token(claims(), kid="../../../dev/null"),
    "kid with SQL": lambda: token(claims(), kid="x' UNION SELECT key FROM keys--"),
    "another key": lambda: token(claims(), key="rsa-2"),
    "expired": lambda: token(claims(exp=int(time.time()) - 100)),
    "not yet valid": lambda: token(claims(nbf=int(time.time()) + 100)),
    "another issuer": lambda: token(claims(iss="https://evil.test/")),
    "another audience": lambda: token(claims(aud="other")),
    "not base64": lambda: "e$$.e30.e30",
    "not a JWT": lambda: "hello",
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_each_attack_is_401(node: RunningNode, scripted: ScriptedUpstream, attack: str) -> None:
    assert_refused(node.get("/rs/x", bearer(ATTACKS[attack]())), scripted, invalid=True)


@pytest.mark.parametrize(
    "fields",
    [
        "Authorization: Basic YTpi\r\n",
        "Authorization: Bearer\r\n",
        "Authorization: Bearer a b\r\n",
        "Authorization: Bearer {t}\r\nAuthorization: Bearer {t}\r\n",
    ],
)
def test_a_malformed_authorization_field_is_401(
    node: RunningNode, scripted: ScriptedUpstream, fields: str
) -> None:
    text = token(claims())
    response = node.request(
        f"GET /rs/x HTTP/1.1\r\nHost: gw.test\r\n{fields.format(t=text)}\r\n".encode()
    )
    assert response.status == 401
    assert scripted.received() == []


def test_the_token_roles_claim_admits_where_the_consumers_roles_do_not(
    node: RunningNode, scripted: ScriptedUpstream
) -> None:
    assert node.get("/admins/x", bearer(token(claims(roles=["admin"])))).status == 200
    response = node.get("/admins/x", bearer(token(claims(roles=["viewer"]))))
    assert response.status == 403
    assert response.json()["error"]["code"] == "forbidden"
    assert len(scripted.wait_for(1)) == 1


def test_a_route_taking_both_methods_admits_either_but_not_both_at_once(
    node: RunningNode, scripted: ScriptedUpstream
) -> None:
    assert node.get("/either/x", {"x-api-key": BOB_KEY}).status == 200
    assert node.get("/either/x", bearer(token(claims()))).status == 200
    consumers = [r.all("x-consumer") for r in scripted.wait_for(2)]
    assert consumers == [["bob"], ["alice"]]
    scripted.clear()
    both = {"x-api-key": BOB_KEY, **bearer(token(claims()))}
    response = node.get("/either/x", both)
    assert response.status == 401
    challenges = {v for k, v in response.headers if k.lower() == "www-authenticate"}
    assert challenges == {'ApiKey realm="fleetgate"', 'Bearer realm="fleetgate"'}
    assert scripted.received() == []


def test_an_anonymous_route_admits_no_token_but_not_a_bad_one(
    node: RunningNode, scripted: ScriptedUpstream
) -> None:
    assert node.get("/open/x").status == 200
    assert only_request(scripted).all("x-consumer") == []
    scripted.clear()
    expired = token(claims(exp=int(time.time()) - 100))
    assert_refused(node.get("/open/x", bearer(expired)), scripted, invalid=True)
