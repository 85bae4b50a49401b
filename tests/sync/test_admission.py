"""Capability admission: the admin API refuses what the connected nodes could not serve."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from control_plane.admin_auth import AdminAuth
from control_plane.plane import ControlPlane
from control_plane.settings import ControlPlaneSettings
from control_plane.store.db import Database
from control_plane.sync.admission import connected_capabilities, unservable
from data_plane.config.model import GatewayConfig
from data_plane.config.snapshot import build_snapshot

from .test_nodes_api import add_node

TOKEN = "admission-token-5c1e9a7f3b2d4e60"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SERVICE = {"name": "echo", "targets": [{"address": "127.0.0.1:9001"}]}
CACHED = {"name": "cached", "paths": ["/cached/**"], "service": "echo", "cache": {"ttl": 5}}
PLAIN = {"name": "plain", "paths": ["/plain/**"], "service": "echo"}


def snapshot_of(*routes: dict[str, Any]) -> Any:
    return build_snapshot(
        GatewayConfig.model_validate({"services": [SERVICE], "routes": list(routes)})
    )


@pytest.fixture
def store(sqlite_db: Database) -> Database:
    """The API tests run on SQLite; the one query is also run on PostgreSQL below."""
    return sqlite_db


@pytest.fixture
def api(store: Database, admin_app: FastAPI) -> Iterator[TestClient]:
    settings = ControlPlaneSettings(db=str(store.url), node_offline_after=30)
    admin_app.state.plane = ControlPlane.build(settings, store, AdminAuth.for_token(TOKEN))
    with TestClient(admin_app, headers=AUTH) as client:
        client.post("/api/v1/services", json=SERVICE).raise_for_status()
        yield client


def refusal(answer: Any) -> dict[str, Any]:
    assert answer.status_code == 422, answer.text
    error: dict[str, Any] = answer.json()["error"]
    assert error["code"] == "invalid_config"
    return error


# ---------------------------------------------------------------- the rule, pure


def test_a_feature_is_refused_naming_its_field_capability_and_the_nodes_lacking_it() -> None:
    nodes = {"edge-1": frozenset(), "edge-2": frozenset({"policy.cache"}), "edge-3": frozenset()}
    [error] = unservable(snapshot_of(CACHED), nodes)
    assert error.field == "routes.cached.cache"
    assert "policy.cache" in error.message
    assert "edge-1, edge-3" in error.message and "edge-2" not in error.message


def test_what_every_connected_node_supports_is_admitted() -> None:
    nodes = {"edge-1": frozenset({"policy.cache"}), "edge-2": frozenset({"policy.cache"})}
    assert unservable(snapshot_of(CACHED, PLAIN), nodes, own=frozenset()) == []


def test_with_no_node_connected_the_control_planes_own_build_decides() -> None:
    [error] = unservable(snapshot_of(CACHED), {}, own=frozenset())
    assert "no node is connected" in error.message and "policy.cache" in error.message
    assert unservable(snapshot_of(CACHED), {}, own=frozenset({"policy.cache"})) == []


def test_a_refusal_names_five_nodes_and_counts_the_rest() -> None:
    nodes = {f"edge-{i}": frozenset[str]() for i in range(8)}
    [error] = unservable(snapshot_of(CACHED), nodes)
    assert "edge-0, edge-1, edge-2, edge-3, edge-4 and 3 more" in error.message


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_connected_nodes_are_those_heard_from_within_the_offline_time(
    kind: str, request: pytest.FixtureRequest
) -> None:
    db: Database = request.getfixturevalue(f"{kind}_db")
    now = datetime.now(UTC)
    add_node(db, "live", capabilities=["policy.auth"], last_seen=now - timedelta(seconds=5))
    add_node(db, "gone", capabilities=["policy.cache"], last_seen=now - timedelta(seconds=60))
    with db.session() as session:
        nodes = connected_capabilities(session, now, offline_after=30)
    assert nodes == {"live": frozenset({"policy.auth"})}


# ---------------------------------------------------------------- through the admin API


def test_a_route_connected_nodes_cannot_serve_is_refused_and_nothing_is_stored(
    api: TestClient, store: Database
) -> None:
    add_node(store, "edge-1", capabilities=[])
    error = refusal(api.post("/api/v1/routes", json=CACHED))
    assert "routes.cached.cache" in error["message"]
    assert "policy.cache" in error["message"] and "edge-1" in error["message"]
    assert api.get("/api/v1/routes/cached").status_code == 404


def test_a_later_unrelated_route_is_still_admitted(api: TestClient, store: Database) -> None:
    add_node(store, "edge-1", capabilities=[])
    refusal(api.post("/api/v1/routes", json=CACHED))
    assert api.post("/api/v1/routes", json=PLAIN).status_code == 201


def test_what_the_connected_nodes_declare_they_support_is_admitted(
    api: TestClient, store: Database
) -> None:
    add_node(store, "edge-1", capabilities=["policy.cache"])
    assert api.post("/api/v1/routes", json=CACHED).status_code == 201


def test_an_offline_node_has_no_say(api: TestClient, store: Database) -> None:
    long_ago = datetime.now(UTC) - timedelta(minutes=10)
    add_node(store, "gone", capabilities=["policy.cache"], last_seen=long_ago)
    error = refusal(api.post("/api/v1/routes", json=CACHED))
    assert "no node is connected" in error["message"]


def test_a_patch_that_adds_an_unservable_policy_is_refused(
    api: TestClient, store: Database
) -> None:
    add_node(store, "edge-1", capabilities=[])
    assert api.post("/api/v1/routes", json=PLAIN).status_code == 201
    error = refusal(api.patch("/api/v1/routes/plain", json={"cache": {"ttl": 5}}))
    assert "routes.plain.cache" in error["message"]


def test_apply_and_its_dry_run_refuse_the_same_way(api: TestClient, store: Database) -> None:
    add_node(store, "edge-1", capabilities=[])
    document = {"services": [SERVICE], "routes": [PLAIN, CACHED]}
    for dry_run in ("true", "false"):
        answer = api.put("/api/v1/config", params={"dry_run": dry_run}, json=document)
        assert "routes.cached.cache" in refusal(answer)["message"]
    assert api.get("/api/v1/routes/plain").status_code == 404  # all or nothing
