"""Releases over HTTP: made after changes, strictly increasing, equal content -> equal hash."""

from __future__ import annotations

from fastapi.testclient import TestClient
from fleetgate_pb import config_pb2 as pb

from control_plane.plane import ControlPlane
from data_plane.config.snapshot import content_hash

from .conftest import SEED, ok, release_versions, settle, wait_for_release


def test_an_empty_store_has_no_release(client: TestClient, plane: ControlPlane) -> None:
    settle(client, plane)
    assert release_versions(client) == []
    assert ok(client.get("/api/v1/releases/latest"), 404)["error"]["code"] == "not_found"


def test_a_committed_change_makes_a_release(client: TestClient) -> None:
    ok(client.post("/api/v1/tiers", json={"name": "PRO"}), 201)
    release = wait_for_release(client, 1)
    assert release["tiers"] == [{"name": "PRO"}]


def test_release_versions_increase_by_one_per_release(
    seeded: TestClient, plane: ControlPlane
) -> None:
    for limit in (10, 20, 30):
        ok(seeded.patch("/api/v1/tiers/PRO", json={"requests_per_minute": limit}))
        settle(seeded, plane)
    assert release_versions(seeded) == [4, 3, 2, 1]


def test_equal_content_gets_an_equal_hash(seeded: TestClient, plane: ControlPlane) -> None:
    first = ok(seeded.get("/api/v1/releases/1"))
    ok(seeded.patch("/api/v1/tiers/PRO", json={"requests_per_minute": 5}))
    settle(seeded, plane)
    ok(seeded.patch("/api/v1/tiers/PRO", json={"requests_per_minute": 1000}))
    settle(seeded, plane)
    second, third = ok(seeded.get("/api/v1/releases/2")), ok(seeded.get("/api/v1/releases/3"))
    assert third["hash"] == first["hash"] != second["hash"]


def test_a_change_to_what_is_stored_already_makes_no_release(
    seeded: TestClient, plane: ControlPlane
) -> None:
    ok(seeded.put("/api/v1/tiers/PRO", json=SEED["tiers"][0]))
    ok(seeded.put("/api/v1/config", json=SEED))
    settle(seeded, plane)
    assert release_versions(seeded) == [1]


def test_a_release_shows_its_snapshot_and_who_made_it(
    seeded: TestClient, plane: ControlPlane
) -> None:
    ok(seeded.post("/api/v1/tiers", json={"name": "FREE"}, headers={"X-Actor": "carol"}), 201)
    settle(seeded, plane)
    release = ok(seeded.get("/api/v1/releases/2/snapshot"))
    assert (release["version"], release["author"]) == (2, "carol")
    snapshot = release["snapshot"]
    assert snapshot["version"] == "2" and snapshot["hash"] == release["hash"]
    assert [s["name"] for s in snapshot["services"]] == ["users"]
    # The stored bytes hash to what the release says.
    stored = plane.releases.latest
    assert (
        stored is not None
        and content_hash(pb.Snapshot.FromString(stored.snapshot)) == release["hash"]
    )


def test_a_release_reads_in_the_file_shape_and_can_be_applied_again(
    seeded: TestClient, plane: ControlPlane
) -> None:
    ok(seeded.patch("/api/v1/services/users", json={"retries": 2}))
    ok(seeded.post("/api/v1/tiers", json={"name": "FREE"}), 201)
    settle(seeded, plane)
    first = ok(seeded.get("/api/v1/releases/1"))
    assert {k: first[k] for k in ("version", "author")} == {"version": 1, "author": "admin"}
    config = {
        k: v for k, v in first.items() if k not in {"version", "hash", "created_at", "author"}
    }
    assert config == SEED  # the file shape: defaults left out, as it was applied
    ok(seeded.put("/api/v1/config", json=config))
    settle(seeded, plane)
    assert ok(seeded.get("/api/v1/releases/latest"))["hash"] == first["hash"]


def test_the_diff_of_two_releases_lists_added_removed_and_changed(
    seeded: TestClient, plane: ControlPlane
) -> None:
    ok(seeded.post("/api/v1/tiers", json={"name": "FREE"}), 201)
    ok(seeded.patch("/api/v1/services/users", json={"retries": 2}))
    last = seeded.delete("/api/v1/consumers/alice").headers["X-Fleetgate-Release"]
    settle(seeded, plane)
    diff = ok(seeded.get(f"/api/v1/releases/1/diff/{last}"))
    assert [t["name"] for t in diff["tiers"]["added"]] == ["FREE"]
    assert [c["name"] for c in diff["consumers"]["removed"]] == ["alice"]
    [changed] = diff["services"]["changed"]
    assert changed["name"] == "users"
    assert "retries" not in changed["before"] and changed["after"]["retries"] == 2
    assert diff["routes"] == {"added": [], "removed": [], "changed": []}


def test_a_write_answers_with_the_release_that_holds_it(seeded: TestClient) -> None:
    created = seeded.post("/api/v1/tiers", json={"name": "FREE"})
    assert created.status_code == 201
    version = int(created.headers["X-Fleetgate-Release"])
    assert version == 2
    assert [t["name"] for t in ok(seeded.get(f"/api/v1/releases/{version}"))["tiers"]] == [
        "FREE",
        "PRO",
    ]
    patched = seeded.patch("/api/v1/tiers/FREE", json={"requests_per_minute": 10})
    assert patched.headers["X-Fleetgate-Release"] == "3"
    deleted = seeded.delete("/api/v1/tiers/FREE")
    assert (deleted.status_code, deleted.headers["X-Fleetgate-Release"]) == (204, "4")
    key = seeded.post("/api/v1/consumers/alice/api-keys", json={"id": "ci"})
    assert key.headers["X-Fleetgate-Release"] == "5"


def test_a_write_that_changes_nothing_answers_with_the_release_already_holding_it(
    seeded: TestClient,
) -> None:
    same = seeded.put("/api/v1/tiers/PRO", json=SEED["tiers"][0])
    assert (same.status_code, same.headers["X-Fleetgate-Release"]) == (200, "1")
    applied = seeded.put("/api/v1/config", json=SEED)
    assert applied.headers["X-Fleetgate-Release"] == "1"


def test_a_refused_write_names_no_release(seeded: TestClient) -> None:
    refused = seeded.post("/api/v1/tiers", json={"name": "PRO"})
    assert refused.status_code == 409 and "X-Fleetgate-Release" not in refused.headers
    assert "X-Fleetgate-Release" not in seeded.get("/api/v1/tiers/PRO").headers


def test_an_unknown_release_is_404(seeded: TestClient) -> None:
    assert ok(seeded.get("/api/v1/releases/99"), 404)["error"]["code"] == "not_found"
    assert seeded.get("/api/v1/releases/1/diff/99").status_code == 404


def test_metrics_count_admin_requests_and_releases(seeded: TestClient, plane: ControlPlane) -> None:
    ok(seeded.get("/api/v1/services/users"))
    text = seeded.get("/metrics").text
    assert (
        'fleetgate_admin_requests_total{method="GET",route="/api/v1/services/{name}",status="200"}'
        in text
    )
    assert "fleetgate_releases_total 1.0" in text
    assert "fleetgate_release_version 1.0" in text
    assert "fleetgate_admin_request_duration_seconds_bucket" in text
