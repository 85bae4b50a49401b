"""The console's overview: the nodes table, the current release, the fleet's figures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from control_plane.console.fleet_history import FleetHistory, FleetSample
from control_plane.plane import ControlPlane
from control_plane.store.nodes import NodeRow

from .test_console_security import sign_in

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def node(node_id: str, last_seen: datetime, **figures: Any) -> NodeRow:
    return NodeRow(
        id=node_id,
        labels={"zone": "eu-1"},
        address="127.0.0.1:8080",
        peer="127.0.0.1:40000",
        software_version="0.1.0",
        schema_version=1,
        capabilities=[],
        first_seen=last_seen,
        last_seen=last_seen,
        **figures,
    )


def store_nodes(plane: ControlPlane, *rows: NodeRow) -> None:
    with plane.db.session() as session:
        session.add_all(rows)
        session.commit()


@pytest.fixture
def browser(anonymous: TestClient) -> TestClient:
    return sign_in(anonymous)


def test_the_fleet_sample_sums_the_nodes_heard_from_recently(
    browser: TestClient, plane: ControlPlane
) -> None:
    store_nodes(
        plane,
        node("edge-1", NOW, request_rate=300.0, error_rate=0.10, p99_ms=12.0),
        node("edge-2", NOW - timedelta(seconds=5), request_rate=100.0, error_rate=0.0, p99_ms=30.0),
        # Silent past the offline time: its last figures are not the fleet's any more.
        node("edge-3", NOW - timedelta(minutes=5), request_rate=900.0, error_rate=1.0, p99_ms=99.0),
        node("edge-4", NOW),  # connected, no report yet
    )
    sample = FleetHistory().sample(plane, NOW)
    assert sample == FleetSample(NOW.timestamp(), 400.0, pytest.approx(0.075), 30.0)


def test_with_no_node_the_fleet_sample_is_zero(browser: TestClient, plane: ControlPlane) -> None:
    assert FleetHistory().sample(plane, NOW) == FleetSample(NOW.timestamp(), 0.0, 0.0, None)


def test_the_history_keeps_the_last_fifteen_minutes_of_samples() -> None:
    history = FleetHistory(capacity=3)
    for t in range(5):
        history.add(FleetSample(float(t), float(t), 0.0, None))
    assert [s["t"] for s in history.series()] == [2.0, 3.0, 4.0]
    assert repr(history) == "<FleetHistory samples=3/3>"


def test_the_overview_lists_nodes_and_the_current_release(
    seeded: TestClient, browser: TestClient, plane: ControlPlane
) -> None:
    store_nodes(plane, node("edge-1", datetime.now(UTC), applied_version=1, applied_hash="0" * 64))
    page = browser.get("/console")
    assert page.status_code == 200
    assert 'id="current-release">v1</a>' in page.text
    assert '<th scope="row">edge-1</th>' in page.text
    assert "zone=eu-1" in page.text


def test_fleet_json_gives_samples_nodes_and_the_release(
    seeded: TestClient, browser: TestClient, plane: ControlPlane
) -> None:
    store_nodes(plane, node("edge-1", datetime.now(UTC), request_rate=5.0))
    browser.app.state.fleet_history.add(FleetSample(1.0, 5.0, 0.0, 2.0))  # type: ignore[attr-defined]
    fleet = browser.get("/console/fleet.json").json()
    assert fleet["release"]["version"] == 1
    assert fleet["interval"] == 5.0
    assert [n["id"] for n in fleet["nodes"]] == ["edge-1"]
    assert fleet["nodes"][0]["status"] == "STALE"
    assert {"t": 1.0, "requests_per_second": 5.0, "error_rate": 0.0, "p99_ms": 2.0} in fleet[
        "samples"
    ]


def test_fleet_json_needs_a_session(anonymous: TestClient) -> None:
    answer = anonymous.get("/console/fleet.json", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/sign-in"
