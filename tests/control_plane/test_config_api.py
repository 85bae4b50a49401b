"""The whole config at once: `PUT /api/v1/config` (what `fleetgate apply` sends) and `GET`."""

from __future__ import annotations

from fastapi.testclient import TestClient

from control_plane.plane import ControlPlane

from .conftest import SEED, ok, release_versions, settle

NEW = {
    "services": [
        {"name": "orders", "targets": [{"address": "127.0.0.1:9002", "weight": 3}]},
        {"name": "users", "targets": [{"address": "127.0.0.1:9001"}], "retries": 2},
    ],
    "routes": [{"name": "orders-api", "paths": ["/orders/**"], "service": "orders"}],
    "tiers": [{"name": "FREE", "requests_per_minute": 60}],
}


def test_export_returns_the_file_shape_ordered_by_name(seeded: TestClient) -> None:
    ok(seeded.post("/api/v1/tiers", json={"name": "BASIC", "requests_per_minute": 100}), 201)
    exported = ok(seeded.get("/api/v1/config"))
    assert list(exported) == ["services", "routes", "tiers", "tenants", "consumers"]
    assert exported["tiers"] == [
        {"name": "BASIC", "requests_per_minute": 100},
        {"name": "PRO", "requests_per_minute": 1000},
    ]


def test_apply_makes_the_store_equal_to_the_document(seeded: TestClient) -> None:
    result = ok(seeded.put("/api/v1/config", json=NEW))
    assert result["changed"] and not result["dry_run"]
    assert ok(seeded.get("/api/v1/config")) == NEW


def test_apply_reports_what_it_added_changed_and_removed(seeded: TestClient) -> None:
    diff = ok(seeded.put("/api/v1/config", json=NEW))["diff"]
    assert [s["name"] for s in diff["services"]["added"]] == ["orders"]
    assert [c["name"] for c in diff["services"]["changed"]] == ["users"]
    assert [r["name"] for r in diff["routes"]["removed"]] == ["users-api"]
    assert [r["name"] for r in diff["routes"]["added"]] == ["orders-api"]
    assert [t["name"] for t in diff["tiers"]["removed"]] == ["PRO"]
    assert [c["name"] for c in diff["consumers"]["removed"]] == ["alice"]


def test_a_dry_run_reports_the_diff_and_stores_nothing(
    seeded: TestClient, plane: ControlPlane
) -> None:
    before = ok(seeded.get("/api/v1/config"))
    result = ok(seeded.put("/api/v1/config", params={"dry_run": "true"}, json=NEW))
    assert result["changed"] and result["dry_run"]
    assert [s["name"] for s in result["diff"]["services"]["added"]] == ["orders"]
    settle(seeded, plane)
    assert ok(seeded.get("/api/v1/config")) == before
    assert release_versions(seeded) == [1]


def test_applying_the_stored_config_again_changes_nothing(seeded: TestClient) -> None:
    audit_before = ok(seeded.get("/api/v1/audit"))["total"]
    result = ok(seeded.put("/api/v1/config", json=SEED))
    assert not result["changed"]
    assert ok(seeded.get("/api/v1/audit"))["total"] == audit_before


def test_applying_the_same_document_twice_makes_one_release(
    seeded: TestClient, plane: ControlPlane
) -> None:
    ok(seeded.put("/api/v1/config", json=NEW))
    settle(seeded, plane)
    ok(seeded.put("/api/v1/config", json=NEW))
    settle(seeded, plane)
    assert release_versions(seeded) == [2, 1]


def test_apply_writes_one_audit_entry_per_changed_entity(seeded: TestClient) -> None:
    ok(seeded.put("/api/v1/config", json=NEW, headers={"X-Actor": "deploy"}))
    entries = ok(seeded.get("/api/v1/audit", params={"limit": 1000}))["items"]
    applied = {
        (e["kind"], e["name"]) for e in entries if e["action"] == "apply" and e["actor"] == "deploy"
    }
    assert applied == {
        ("services", "orders"),
        ("services", "users"),
        ("routes", "orders-api"),
        ("routes", "users-api"),
        ("tiers", "FREE"),
        ("tiers", "PRO"),
        ("tenants", "acme"),
        ("consumers", "alice"),
    }


def test_the_audit_log_is_newest_first_and_filters_by_kind_and_name(seeded: TestClient) -> None:
    ok(seeded.patch("/api/v1/tiers/PRO", json={"priority": 1}))
    ok(seeded.patch("/api/v1/services/users", json={"retries": 1}))
    entries = ok(seeded.get("/api/v1/audit", params={"kind": "tiers", "name": "PRO"}))
    assert [e["action"] for e in entries["items"]] == ["patch", "apply"]
    latest = entries["items"][0]
    assert latest["before"] == {"name": "PRO", "requests_per_minute": 1000}
    assert latest["after"] == {"name": "PRO", "requests_per_minute": 1000, "priority": 1}
    assert ok(seeded.get("/api/v1/audit", params={"limit": 1}))["items"][0]["kind"] == "services"


def test_an_api_key_given_as_key_is_applied_as_its_hash(client: TestClient) -> None:
    key = "s3cret-key-for-tests-0001"
    document = {"consumers": [{"name": "bot", "api_keys": [{"id": "main", "key": key}]}]}
    ok(client.put("/api/v1/config", json=document))
    exported = client.get("/api/v1/config")
    assert key not in exported.text
    assert list(exported.json()["consumers"][0]["api_keys"][0]) == ["id", "hash"]


def test_an_empty_document_deletes_everything(seeded: TestClient) -> None:
    ok(seeded.put("/api/v1/config", json={}))
    assert ok(seeded.get("/api/v1/config")) == {}
