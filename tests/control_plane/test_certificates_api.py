"""Certificates through the admin API: checked at the door, the key write-only."""

from __future__ import annotations

import hashlib
import json

import pytest
from fastapi.testclient import TestClient

from control_plane.plane import ControlPlane
from tests.tls.pki import Authority, Issued

from .conftest import ok, settle, store_state, wait_for_release

CA = Authority.new()
API = CA.issue("api.example.com", "*.api.example.com")


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def create(client: TestClient, issued: Issued = API, name: str = "api", **extra: object) -> dict:
    body = {**issued.entity(name, ["api.example.com"]), **extra}
    return ok(client.post("/api/v1/certificates", json=body), 201)


# ---------------------------------------------------------------- the key is write-only


def test_a_created_certificate_reads_back_with_its_key_sha256_and_never_its_key(
    client: TestClient,
) -> None:
    created = create(client)
    assert created["key_sha256"] == sha256(API.key)
    assert "key" not in created
    read = ok(client.get("/api/v1/certificates/api"))
    listed = ok(client.get("/api/v1/certificates"))["items"][0]
    for shown in (read, listed):
        assert shown["key_sha256"] == sha256(API.key)
        assert shown["cert"] == API.chain
        assert shown["snis"] == ["api.example.com"]
        assert API.key not in json.dumps(shown)


def test_no_read_export_release_or_audit_entry_holds_the_key(
    client: TestClient, plane: ControlPlane
) -> None:
    create(client)
    settle(client, plane)
    release = wait_for_release(client, 1)
    pieces = {
        "export": client.get("/api/v1/config").text,
        "release": json.dumps(release),
        "snapshot": client.get("/api/v1/releases/1/snapshot").text,
        "audit": client.get("/api/v1/audit").text,
    }
    marker = API.key.splitlines()[1]  # a line of the key's base64
    leaked = [where for where, text in pieces.items() if marker in text]
    assert leaked == []
    assert ok(client.get("/api/v1/config"))["certificates"][0]["key_sha256"] == sha256(API.key)
    snapshot = ok(client.get("/api/v1/releases/1/snapshot"))["snapshot"]
    assert snapshot["certificates"][0]["key_sha256"] == sha256(API.key)


def test_export_with_secrets_writes_the_key(client: TestClient, plane: ControlPlane) -> None:
    create(client)
    settle(client, plane)
    exported = ok(client.get("/api/v1/config", params={"include_secrets": "true"}))
    assert exported["certificates"][0]["key"] == API.key
    release = ok(client.get("/api/v1/releases/1", params={"include_secrets": "true"}))
    assert release["certificates"][0]["key"] == API.key


def test_an_exported_file_applied_again_keeps_the_stored_key(
    client: TestClient, plane: ControlPlane
) -> None:
    create(client)
    settle(client, plane)
    exported = ok(client.get("/api/v1/config"))
    assert "key" not in exported["certificates"][0]
    result = ok(client.put("/api/v1/config", json=exported))
    assert result["changed"] is False
    exported["certificates"][0]["snis"] = ["api.example.com", "www.api.example.com"]
    assert ok(client.put("/api/v1/config", json=exported))["changed"] is True
    with_keys = ok(client.get("/api/v1/config", params={"include_secrets": "true"}))
    assert with_keys["certificates"][0]["key"] == API.key


def test_a_patch_of_the_names_keeps_the_key(client: TestClient) -> None:
    create(client)
    patched = ok(client.patch("/api/v1/certificates/api", json={"snis": ["x.api.example.com"]}))
    assert patched["snis"] == ["x.api.example.com"]
    assert patched["key_sha256"] == sha256(API.key)


def test_a_new_certificate_and_key_replace_the_old_ones(client: TestClient) -> None:
    create(client)
    renewed = CA.issue("api.example.com")
    body = renewed.entity("api", ["api.example.com"])
    replaced = ok(client.put("/api/v1/certificates/api", json=body))
    assert replaced["key_sha256"] == sha256(renewed.key)
    with_keys = ok(client.get("/api/v1/config", params={"include_secrets": "true"}))
    assert with_keys["certificates"][0]["key"] == renewed.key


def test_a_key_sha256_that_is_not_the_stored_keys_is_refused(client: TestClient) -> None:
    create(client)
    before = store_state(client)
    body = {"name": "api", "cert": API.chain, "key_sha256": "0" * 64, "snis": ["a.example.com"]}
    response = client.put("/api/v1/certificates/api", json=body)
    assert response.status_code == 422, response.text
    assert "key_sha256" in response.text
    assert store_state(client) == before


def test_a_new_certificate_without_its_key_is_refused(client: TestClient) -> None:
    body = {"name": "api", "cert": API.chain, "key_sha256": sha256(API.key), "snis": []}
    response = client.post("/api/v1/certificates", json=body)
    assert response.status_code == 422, response.text
    assert ok(client.get("/api/v1/certificates"))["total"] == 0


# ---------------------------------------------------------------- checked at the door


def _out_of_order() -> dict:
    middle = CA.intermediate()
    leaf = middle.issue("api.example.com")
    # The intermediate first, then the leaf: the wrong order.
    return {"cert": middle.pem + leaf.leaf, "key": leaf.key}


OTHER = CA.issue("api.example.com")
EXPIRED = CA.issue("api.example.com", expired=True)
BAD_BODIES = {
    "key of another certificate": ({"key": OTHER.key}, "does not match"),
    "expired": ({"cert": EXPIRED.chain, "key": EXPIRED.key}, "expired"),
    "chain out of order": (_out_of_order(), "did not issue"),
    "not PEM": ({"cert": "hello, not a certificate"}, "not a PEM certificate"),
    "a megabyte of PEM": ({"cert": API.chain + "A" * (1 << 20)}, "at most"),
    "key not PEM": ({"key": "not a key at all"}, "not one PEM private key"),
    "SNI with a trailing dot": ({"snis": ["api.example.com."]}, "trailing dot"),
    "SNI with a line feed": ({"snis": ["api.example.com\n"]}, "snis"),
    "SNI with a port": ({"snis": ["api.example.com:443"]}, "snis"),
}


@pytest.mark.parametrize("bad", list(BAD_BODIES))
def test_a_bad_certificate_is_422_with_the_reason_and_nothing_is_stored(
    client: TestClient, bad: str
) -> None:
    change, reason = BAD_BODIES[bad]
    before = store_state(client)
    body = {**API.entity("api", ["api.example.com"]), **change}
    response = client.post("/api/v1/certificates", json=body)
    assert response.status_code == 422, response.text
    assert reason in response.text
    assert store_state(client) == before


def test_a_bad_certificate_in_a_whole_config_stores_nothing(client: TestClient) -> None:
    before = store_state(client)
    bad = {**API.entity("api", ["api.example.com"]), "key": OTHER.key}
    response = client.put("/api/v1/config", json={"certificates": [bad]})
    assert response.status_code == 422, response.text
    assert store_state(client) == before


def test_a_chain_with_its_intermediate_in_order_is_stored(client: TestClient) -> None:
    leaf = CA.intermediate().issue("api.example.com")
    created = create(client, leaf)
    assert created["cert"].count("BEGIN CERTIFICATE") == 2


def test_two_certificates_claiming_one_name_are_refused(client: TestClient) -> None:
    create(client)
    body = OTHER.entity("other", ["api.example.com"])
    response = client.post("/api/v1/certificates", json=body)
    assert response.status_code == 422, response.text
    assert "already served by certificate 'api'" in response.text


def test_a_certificate_expiring_within_30_days_is_stored_with_a_warning_and_counted(
    client: TestClient, plane: ControlPlane
) -> None:
    soon = CA.issue("api.example.com", days=10)
    created = create(client, soon)
    assert len(created["warnings"]) == 1
    assert "expires in 9 days" in created["warnings"][0]
    settle(client, plane)
    wait_for_release(client, 1)
    samples = dict(
        line.rsplit(" ", 1)
        for line in client.get("/metrics").text.splitlines()
        if line.startswith("fleetgate_certificate")
    )
    assert float(samples["fleetgate_certificates_expiring"]) == 1
    expiry = samples['fleetgate_certificate_expiry_timestamp_seconds{certificate="api"}']
    assert float(expiry) == soon.cert.not_valid_after_utc.timestamp()


def test_a_certificate_far_from_expiry_gets_no_warning(client: TestClient) -> None:
    assert "warnings" not in create(client)


def test_the_certificate_is_in_the_release_nodes_receive(
    client: TestClient, plane: ControlPlane
) -> None:
    create(client)
    settle(client, plane)
    snapshot = ok(client.get("/api/v1/releases/1/snapshot"))["snapshot"]
    assert snapshot["certificates"][0]["name"] == "api"
    assert snapshot["certificates"][0]["snis"] == ["api.example.com"]
    assert snapshot["certificates"][0]["cert"] == API.chain
