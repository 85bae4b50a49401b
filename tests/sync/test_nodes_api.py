"""`GET /api/v1/nodes` and `/api/v1/nodes/{id}`: the inventory through the admin API."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from control_plane.admin_auth import AdminAuth
from control_plane.plane import ControlPlane
from control_plane.settings import ControlPlaneSettings
from control_plane.store.db import Database
from control_plane.store.models import ReleaseRow
from control_plane.store.nodes import NodeRow
from data_plane.config.model import GatewayConfig
from data_plane.config.snapshot import build_snapshot

TOKEN = "nodes-api-token-5c1e9a7f3b2d4e60"
# The latest release is the one the release maker would make of this empty store, so it
# makes none of its own while a test runs.
LATEST = build_snapshot(GatewayConfig()).hash
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def api(sqlite_db: Database, admin_app: FastAPI) -> Iterator[TestClient]:
    settings = ControlPlaneSettings(db=str(sqlite_db.url), node_offline_after=30)
    admin_app.state.plane = ControlPlane.build(settings, sqlite_db, AdminAuth.for_token(TOKEN))
    with TestClient(admin_app) as client:
        yield client


def add_release(db: Database, version: int, digest: str) -> None:
    with db.session() as session:
        session.add(
            ReleaseRow(
                version=version, hash=digest, snapshot=b"", created_at=datetime.now(UTC), author="t"
            )
        )
        session.commit()


def add_node(db: Database, node_id: str, **facts: object) -> None:
    values: dict[str, object] = {
        "id": node_id,
        "labels": {"group": "green"},
        "address": "127.0.0.1:8080",
        "peer": "ipv4:127.0.0.1:40000",
        "software_version": "0.1.0",
        "schema_version": 1,
        "capabilities": [],
        "first_seen": datetime.now(UTC) - timedelta(minutes=5),
        "last_seen": datetime.now(UTC),
    }
    values.update(facts)
    with db.session() as session:
        session.add(NodeRow(**values))
        session.commit()


def test_the_list_is_empty_before_any_node_connected(api: TestClient) -> None:
    answer = api.get("/api/v1/nodes", headers=AUTH)
    assert answer.status_code == 200
    assert answer.json() == {"items": [], "total": 0}


def test_nodes_are_listed_by_id_with_their_derived_status(
    api: TestClient, sqlite_db: Database
) -> None:
    add_release(sqlite_db, 1, "a" * 64)
    add_release(sqlite_db, 2, LATEST)
    add_node(sqlite_db, "synced", applied_version=2, applied_hash=LATEST, apply_seconds=0.02)
    add_node(sqlite_db, "stale", applied_version=1, applied_hash="a" * 64)
    add_node(
        sqlite_db,
        "nacked",
        applied_version=1,
        applied_hash="a" * 64,
        rejected_version=2,
        rejected_hash=LATEST,
        last_error="v2: this node lacks policy.cors",
    )
    add_node(
        sqlite_db,
        "offline",
        applied_version=2,
        applied_hash=LATEST,
        last_seen=datetime.now(UTC) - timedelta(seconds=31),
    )
    answer = api.get("/api/v1/nodes", headers=AUTH).json()
    assert answer["total"] == 4
    assert [(n["id"], n["status"]) for n in answer["items"]] == [
        ("nacked", "NACKED"),
        ("offline", "OFFLINE"),
        ("stale", "STALE"),
        ("synced", "SYNCED"),
    ]


def test_one_node_shows_what_it_serves_and_what_it_refused(
    api: TestClient, sqlite_db: Database
) -> None:
    add_release(sqlite_db, 2, LATEST)
    add_node(
        sqlite_db,
        "edge-1",
        applied_version=1,
        applied_hash="a" * 64,
        apply_seconds=0.015,
        rejected_version=2,
        rejected_hash=LATEST,
        last_error="v2: this node lacks policy.cors",
        request_rate=120.5,
        error_rate=0.01,
        p50_ms=1.5,
        p99_ms=8.0,
        open_connections=3,
    )
    node = api.get("/api/v1/nodes/edge-1", headers=AUTH).json()
    assert node["status"] == "NACKED"
    assert node["labels"] == {"group": "green"}
    assert (node["applied_version"], node["rejected_version"]) == (1, 2)
    assert node["last_error"] == "v2: this node lacks policy.cors"
    assert (node["apply_seconds"], node["request_rate"], node["p99_ms"]) == (0.015, 120.5, 8.0)
    assert "peer" not in node


def test_pagination_limits_the_page_not_the_total(api: TestClient, sqlite_db: Database) -> None:
    for i in range(3):
        add_node(sqlite_db, f"edge-{i}")
    answer = api.get("/api/v1/nodes", params={"limit": 2, "offset": 1}, headers=AUTH).json()
    assert answer["total"] == 3
    assert [n["id"] for n in answer["items"]] == ["edge-1", "edge-2"]


def test_an_unknown_node_is_a_404_with_the_json_error_body(api: TestClient) -> None:
    answer = api.get("/api/v1/nodes/nowhere", headers=AUTH)
    assert answer.status_code == 404
    error = answer.json()["error"]
    assert error["code"] == "not_found"
    assert "nowhere" in error["message"]
    assert error["request_id"]


@pytest.mark.parametrize("path", ["/api/v1/nodes", "/api/v1/nodes/edge-1"])
def test_the_nodes_api_needs_the_admin_token(api: TestClient, path: str) -> None:
    answer = api.get(path)
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "unauthorized"


def test_the_nodes_api_is_in_the_openapi_document(api: TestClient) -> None:
    paths = api.get("/openapi.json").json()["paths"]
    assert {"/api/v1/nodes", "/api/v1/nodes/{node_id}"} <= set(paths)


def test_a_node_shows_the_health_and_breaker_state_of_its_targets(
    api: TestClient, sqlite_db: Database
) -> None:
    targets = [
        {"service": "users", "address": "10.0.0.1:80", "healthy": True, "breaker": "half_open"},
        {"service": "users", "address": "10.0.0.2:80", "healthy": False, "breaker": None},
    ]
    add_node(sqlite_db, "reporting", targets=targets)
    add_node(sqlite_db, "silent")
    assert api.get("/api/v1/nodes/reporting", headers=AUTH).json()["targets"] == targets
    assert api.get("/api/v1/nodes/silent", headers=AUTH).json()["targets"] == []
