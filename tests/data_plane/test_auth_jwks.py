"""Keys from a JWKS URL: a JWKS server of the test's own on loopback, keys rotated mid-test,
the URL failing, hanging and flooded with made-up kids, against a real node."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from data_plane.policies import jwks
from data_plane.policies.jwks import (
    DEFAULT_REFRESH,
    MAX_DOCUMENT,
    MAX_KEYS,
    MAX_REFRESH,
    MIN_REFRESH,
    JwksRefused,
    fetch_document,
    parse_jwks,
    refresh_after,
)
from tests.data_plane.jwt_material import public_jwk, token
from tests.data_plane.running_node import RunningNode, read_response
from tests.data_plane.scripted_upstream import (
    Garbage,
    Received,
    Respond,
    ScriptedUpstream,
    Silence,
    StreamBody,
)

ISSUER = "https://login.test/"


def document(*keys: tuple[str, str]) -> bytes:
    return json.dumps({"keys": [public_jwk(kind, kid) for kind, kid in keys]}).encode()


def serving(body: bytes, cache_control: str = "max-age=600") -> Any:
    def script(request: Received) -> Respond:
        return Respond(body=body, headers=(("Cache-Control", cache_control),))

    return script


# ---------------------------------------------------------------- the document, pure


def test_a_document_gives_its_usable_keys_and_skips_the_others() -> None:
    entries = [
        public_jwk("rsa", "r"),
        public_jwk("p256", "e"),
        public_jwk("ed25519", "o"),
        {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"},
        {"kty": "RSA", "kid": "broken", "n": "AQAB"},
        {**public_jwk("rsa", "enc"), "use": "enc"},
        {**public_jwk("rsa", "private"), "d": "AQAB"},
        {"kty": "EC", "crv": "P-521", "x": "AA", "y": "AA", "kid": "p521"},
        "not an object",
    ]
    keys = parse_jwks(json.dumps({"keys": entries}).encode())
    assert [(k.kid, k.family) for k in keys] == [("r", "RSA"), ("e", "EC P-256"), ("o", "OKP")]


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"<html>", "not JSON"),
        (b"[" * 5000 + b"]" * 5000, "not JSON"),
        (b'{"keys": {}}', '"keys" list'),
        (b"[]", '"keys" list'),
        (json.dumps({"keys": [{}] * (MAX_KEYS + 1)}).encode(), "keys; at most"),
        (b" " * (MAX_DOCUMENT + 1), "bytes"),
    ],
)
def test_a_document_not_used_is_refused_whole(body: bytes, why: str) -> None:
    with pytest.raises(JwksRefused, match=why):
        parse_jwks(body)


def test_the_next_fetch_follows_max_age_within_bounds() -> None:
    assert refresh_after("public, max-age=900") == 900
    assert refresh_after("max-age=1") == MIN_REFRESH
    assert refresh_after("max-age=99999999") == MAX_REFRESH
    assert refresh_after("no-store") == DEFAULT_REFRESH
    assert refresh_after("s-maxage=5") == DEFAULT_REFRESH
    assert refresh_after(None) == DEFAULT_REFRESH


# ---------------------------------------------------------------- fetching, in process


@pytest.fixture
def idp() -> Iterator[ScriptedUpstream]:
    with ScriptedUpstream(serving(document(("rsa", "a")))) as server:
        yield server


def url(server: ScriptedUpstream) -> str:
    return f"http://{server.address}/jwks.json"


def test_a_fetch_gets_the_body_and_its_cache_control(idp: ScriptedUpstream) -> None:
    body, cache_control = asyncio.run(fetch_document(url(idp)))
    assert json.loads(body)["keys"][0]["kid"] == "a"
    assert cache_control == "max-age=600"
    (request,) = idp.received()
    assert (request.target, request.header("host")) == ("/jwks.json", idp.address)


@pytest.mark.parametrize(
    ("action", "why"),
    [
        (Respond(status=500, body=b"down"), "answered 500"),
        (Garbage(), "not an HTTP answer"),
        (StreamBody(MAX_DOCUMENT * 2), "over"),
        (Silence(), "no whole answer"),
    ],
)
def test_a_failed_fetch_says_why(
    idp: ScriptedUpstream, monkeypatch: pytest.MonkeyPatch, action: object, why: str
) -> None:
    monkeypatch.setattr(jwks, "FETCH_TIMEOUT", 0.5)
    idp.script = lambda request: action  # type: ignore[assignment,return-value]
    with pytest.raises(JwksRefused, match=why):
        asyncio.run(fetch_document(url(idp)))


# ---------------------------------------------------------------- on a node


def gateway(upstream: str, jwks_url: str) -> dict[str, Any]:
    jwt = {"algorithms": ["RS256", "ES256"], "jwks_url": jwks_url, "issuer": ISSUER}
    return {
        "services": [{"name": "app", "targets": [{"address": upstream}]}],
        "routes": [
            {
                "name": "api",
                "paths": ["/**"],
                "service": "app",
                "auth": {"methods": ["jwt"], "jwt": jwt},
            }
        ],
        "consumers": [{"name": "alice", "jwt_subjects": ["alice"]}],
    }


@pytest.fixture
def node(
    scripted: ScriptedUpstream, idp: ScriptedUpstream, tmp_path: Path
) -> Iterator[RunningNode]:
    running = RunningNode(tmp_path, gateway(scripted.address, url(idp))).start()
    yield running
    running.stop()


def signed(kid: str, kind: str = "rsa", **claims: Any) -> dict[str, str]:
    alg = "ES256" if kind == "p256" else "RS256"
    body = {"sub": "alice", "iss": ISSUER, "exp": int(time.time()) + 300, **claims}
    return {"Authorization": f"Bearer {token(body, alg, kid=kid, key=kind)}"}


def fetches(idp: ScriptedUpstream) -> int:
    return len(idp.received())


def test_keys_are_fetched_once_and_tokens_of_them_admitted(
    node: RunningNode, idp: ScriptedUpstream, scripted: ScriptedUpstream
) -> None:
    for n in range(3):
        response = node.get("/x", signed("a", n=n))
        assert response.status == 200, response.body
    assert [r.all("x-consumer") for r in scripted.wait_for(3)] == [["alice"]] * 3
    assert fetches(idp) == 1


def test_a_rotated_key_is_fetched_on_its_unknown_kid_and_made_up_kids_cost_no_fetch(
    node: RunningNode, idp: ScriptedUpstream
) -> None:
    assert node.get("/x", signed("a")).status == 200
    idp.script = serving(document(("rsa-2", "b"), ("p256", "c")))
    assert node.get("/x", signed("b", "rsa-2")).status == 200
    assert node.get("/x", signed("c", "p256")).status == 200
    assert fetches(idp) == 2
    # The old key left the document: a new token of it is refused.
    assert node.get("/x", signed("a", fresh=1)).status == 401
    for n in range(5):
        response = node.get("/x", signed(f"made-up-{n}"))
        assert response.status == 401
        assert response.json()["error"]["code"] == "unauthorized"
    assert fetches(idp) == 2  # all within the cooldown of the fetch for kid b


def test_the_last_good_keys_are_kept_when_the_url_fails(
    node: RunningNode, idp: ScriptedUpstream
) -> None:
    assert node.get("/x", signed("a")).status == 200
    idp.script = lambda request: Respond(status=503, body=b"down")
    assert node.get("/x", signed("b", "rsa-2")).status == 401
    assert fetches(idp) == 2
    assert node.get("/x", signed("a", again=1)).status == 200
    assert "JWKS" in node.log() and "answered 503" in node.log()


def test_a_hanging_url_delays_only_requests_waiting_on_it_with_one_fetch_for_all(
    node: RunningNode, idp: ScriptedUpstream
) -> None:
    assert node.get("/x", signed("a")).status == 200
    idp.script = lambda request: Silence()  # type: ignore[assignment,return-value]
    waiting: list[socket.socket] = []
    try:
        for n in range(3):
            sock = node.connect(timeout=15)
            headers = "".join(f"{k}: {v}\r\n" for k, v in signed("b", "rsa-2", n=n).items())
            sock.sendall(f"GET /x HTTP/1.1\r\nHost: gw.test\r\n{headers}\r\n".encode())
            waiting.append(sock)
        deadline = time.monotonic() + 10
        while fetches(idp) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        # A known key is answered while the fetch hangs...
        assert node.get("/x", signed("a", other=1)).status == 200
        for sock in waiting:
            sock.setblocking(False)
            with pytest.raises(BlockingIOError):
                sock.recv(1)  # ...and those waiting on the fetch are still waiting.
            sock.setblocking(True)
        # They all get their answer when the fetch gives up, from one fetch.
        assert [read_response(sock).status for sock in waiting] == [401, 401, 401]
        assert fetches(idp) == 2
    finally:
        for sock in waiting:
            sock.close()
