"""A service's tls through the admin API: checked at the door, its client key write-only."""

from __future__ import annotations

import hashlib
import json

import pytest
from fastapi.testclient import TestClient

from control_plane.plane import ControlPlane
from tests.tls.pki import Authority

from .conftest import ok, settle, store_state, wait_for_release

CA = Authority.new()
CLIENT = CA.issue("fleetgate-node", client=True)
OTHER = CA.issue("fleetgate-node", client=True)
MARKER = CLIENT.key.splitlines()[1]  # a line of the key's base64


def service(**tls: object) -> dict:
    return {
        "name": "users",
        "targets": [{"address": "127.0.0.1:9443"}],
        "tls": {"ca": CA.pem, "sni": "users.internal", **tls},
    }


def mtls() -> dict:
    return service(client_cert=CLIENT.chain, client_key=CLIENT.key)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_a_service_with_a_client_pair_reads_back_with_the_keys_sha256_only(
    client: TestClient, plane: ControlPlane
) -> None:
    created = ok(client.post("/api/v1/services", json=mtls()), 201)
    assert created["tls"]["client_key_sha256"] == sha256(CLIENT.key)
    assert "client_key" not in created["tls"]
    settle(client, plane)
    release = wait_for_release(client, 1)
    pieces = {
        "read": client.get("/api/v1/services/users").text,
        "list": client.get("/api/v1/services").text,
        "export": client.get("/api/v1/config").text,
        "release": json.dumps(release),
        "snapshot": client.get("/api/v1/releases/1/snapshot").text,
        "audit": client.get("/api/v1/audit").text,
    }
    assert [where for where, text in pieces.items() if MARKER in text] == []
    snapshot = ok(client.get("/api/v1/releases/1/snapshot"))["snapshot"]
    assert snapshot["services"][0]["tls"]["client_key_sha256"] == sha256(CLIENT.key)


def test_export_with_secrets_writes_the_client_key_and_applying_it_back_keeps_it(
    client: TestClient, plane: ControlPlane
) -> None:
    ok(client.post("/api/v1/services", json=mtls()), 201)
    settle(client, plane)
    secrets = ok(client.get("/api/v1/config", params={"include_secrets": "true"}))
    assert secrets["services"][0]["tls"]["client_key"] == CLIENT.key
    plain = ok(client.get("/api/v1/config"))
    assert ok(client.put("/api/v1/config", json=plain))["changed"] is False
    patched = ok(client.patch("/api/v1/services/users", json={"retries": 2}))
    assert patched["tls"]["client_key_sha256"] == sha256(CLIENT.key)
    again = ok(client.get("/api/v1/config", params={"include_secrets": "true"}))
    assert again["services"][0]["tls"]["client_key"] == CLIENT.key


def test_a_client_key_sha256_that_is_not_the_stored_keys_is_refused(client: TestClient) -> None:
    ok(client.post("/api/v1/services", json=mtls()), 201)
    before = store_state(client)
    body = service(client_cert=CLIENT.chain, client_key_sha256="0" * 64)
    response = client.put("/api/v1/services/users", json=body)
    assert response.status_code == 422, response.text
    assert "client_key_sha256" in response.text
    assert store_state(client) == before


@pytest.mark.parametrize(
    ("tls", "reason"),
    [
        ({"client_cert": CLIENT.chain, "client_key": OTHER.key}, "does not match"),
        ({"client_cert": CLIENT.chain}, "client_cert needs client_key"),
        ({"client_key": CLIENT.key}, "client_key needs its client_cert"),
        ({"ca": "not a certificate"}, "not PEM certificates"),
        ({"sni": "users.internal."}, "not a DNS name"),
    ],
    ids=["key-of-another", "cert-alone", "key-alone", "ca-not-pem", "sni-trailing-dot"],
)
def test_a_bad_tls_block_is_422_with_the_reason_and_nothing_is_stored(
    client: TestClient, tls: dict, reason: str
) -> None:
    before = store_state(client)
    response = client.post("/api/v1/services", json=service(**tls))
    assert response.status_code == 422, response.text
    assert reason in response.text
    assert store_state(client) == before
