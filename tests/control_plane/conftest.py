"""Fixtures of the control-plane tests: a migrated store on SQLite and on PostgreSQL, the admin
API in process, and a bounded wait for releases."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from control_plane.admin_auth import AdminAuth
from control_plane.plane import ControlPlane
from control_plane.releases import ReleaseMaker
from control_plane.settings import ControlPlaneSettings
from control_plane.store.db import Database
from tests.conftest import open_store

TOKEN = "test-admin-token-7f3a9c2e5b1d4f60"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
RELEASE_WAIT = 10.0  # seconds; a release is due 50 ms after the last change, 1 s at most


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    """An empty, migrated store: an SQLite file, or the session's PostgreSQL database."""
    fixture = "migrated_sqlite_url" if request.param == "sqlite" else "migrated_postgres_url"
    url: str = request.getfixturevalue(fixture)
    return url


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    with open_store(db_url) as database:
        yield database


@pytest.fixture
def postgres_db(migrated_postgres_url: str) -> Iterator[Database]:
    """The session's PostgreSQL store, emptied: for what only PostgreSQL does."""
    with open_store(migrated_postgres_url) as database:
        yield database


@pytest.fixture
def plane(db: Database, db_url: str) -> ControlPlane:
    # Every write waits for its release (X-Fleetgate-Release): a shorter quiet time than
    # production's 50 ms keeps the many writes of these tests quick.
    releases = ReleaseMaker(db, quiet=0.002, longest=0.05)
    return ControlPlane.build(
        ControlPlaneSettings(db=db_url), db, AdminAuth.for_token(TOKEN), releases
    )


@pytest.fixture
def client(admin_app: FastAPI, plane: ControlPlane) -> Iterator[TestClient]:
    """The admin API with its lifespan (so releases are made), sending the admin token."""
    admin_app.state.plane = plane
    with TestClient(admin_app, headers=AUTH) as authorized:
        yield authorized


@pytest.fixture
def anonymous(client: TestClient) -> TestClient:
    """The same running app, without a token."""
    stranger = TestClient(client.app)
    stranger.portal = client.portal  # share the running app's event loop and lifespan
    return stranger


# ---------------------------------------------------------------- helpers


def ok(response: Any, status: int = 200) -> Any:
    """The JSON of `response`, after checking its status (with the body in the message)."""
    assert response.status_code == status, response.text
    return response.json() if response.content else None


def release_versions(client: TestClient) -> list[int]:
    return [r["version"] for r in ok(client.get("/api/v1/releases"))["items"]]


def wait_for_release(client: TestClient, version: int, timeout: float = RELEASE_WAIT) -> dict:
    """Poll until release `version` exists; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        response = client.get(f"/api/v1/releases/{version}")
        if response.status_code == 200:
            release: dict = response.json()
            return release
        assert response.status_code == 404, response.text
        if time.monotonic() > deadline:
            raise AssertionError(
                f"release {version} not made in {timeout} s: {release_versions(client)}"
            )
        time.sleep(0.02)


def settle(client: TestClient, plane: ControlPlane) -> None:
    """Make any pending release now, so a test starts from a quiet store."""
    client.portal.call(plane.releases.flush)


def store_state(client: TestClient) -> dict:
    """What a refused change must leave untouched: the config, releases and audit log."""
    return {
        "config": ok(client.get("/api/v1/config")),
        "releases": release_versions(client),
        "audit": ok(client.get("/api/v1/audit"))["total"],
    }


SEED = {
    "services": [{"name": "users", "targets": [{"address": "127.0.0.1:9001"}]}],
    "routes": [{"name": "users-api", "paths": ["/users/**"], "service": "users"}],
    "tiers": [{"name": "PRO", "requests_per_minute": 1000}],
    "tenants": [{"name": "acme", "tier": "PRO"}],
    "consumers": [{"name": "alice", "tenant": "acme"}],
}


@pytest.fixture
def seeded(client: TestClient, plane: ControlPlane) -> TestClient:
    """A store holding one entity of each kind, released (version 1) and quiet."""
    ok(client.put("/api/v1/config", json=SEED))
    settle(client, plane)
    assert release_versions(client) == [1]
    return client
