"""Rollouts over HTTP: start, current, history, promote, rollback; what a running one
refuses; and bad input refused with the error body and nothing changed."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from fastapi.testclient import TestClient

from control_plane.plane import ControlPlane

from .conftest import SEED, ok, release_versions, settle, store_state

CANARY = {"header": {"name": "x-canary", "value": "1"}}


def candidate() -> dict[str, Any]:
    """The seed config with the users service moved to another target."""
    config = copy.deepcopy(SEED)
    config["services"][0]["targets"] = [{"address": "127.0.0.1:9002"}]
    return config


def start(client: TestClient, **body: Any) -> dict[str, Any]:
    started: dict[str, Any] = ok(
        client.post("/api/v1/rollouts", json={"config": candidate(), "selector": CANARY, **body}),
        201,
    )
    return started


def refused(client: TestClient, response: Any, status: int, code: str) -> dict[str, Any]:
    body: dict[str, Any] = ok(response, status)
    assert body["error"]["code"] == code, body
    assert body["error"]["request_id"]
    return body


def test_current_is_404_when_no_rollout_ever_ran(seeded: TestClient) -> None:
    refused(seeded, seeded.get("/api/v1/rollouts/current"), 404, "not_found")


def test_start_answers_201_with_the_running_rollout(seeded: TestClient) -> None:
    rollout = start(seeded, gate={"soak": 30, "min_requests": 10})
    assert rollout["state"] == "running"
    assert (rollout["active_version"], rollout["candidate_version"]) == (1, 2)
    assert rollout["selector"] == CANARY
    assert rollout["gate"] == {
        "soak": 30.0,
        "min_requests": 10,
        "max_error_rate_delta": 0.01,
        "max_p99_ratio": 1.5,
    }
    assert rollout["figures"]["candidate"] == {"requests": 0, "error_rate": 0.0, "p99_ms": 0.0}
    assert ok(seeded.get("/api/v1/rollouts/current")) == rollout
    assert ok(seeded.get("/api/v1/rollouts")) == {"items": [rollout], "total": 1}


def test_the_candidate_is_not_released_while_the_rollout_runs(
    seeded: TestClient, plane: ControlPlane
) -> None:
    before = store_state(seeded)
    start(seeded)
    settle(seeded, plane)
    after = store_state(seeded)
    assert (after["config"], after["releases"]) == (before["config"], before["releases"])


def test_entity_writes_and_apply_are_409_rollout_in_progress_while_one_runs(
    seeded: TestClient,
) -> None:
    start(seeded)
    before = store_state(seeded)
    writes = [
        seeded.post("/api/v1/tiers", json={"name": "FREE"}),
        seeded.put("/api/v1/tiers/PRO", json={"name": "PRO", "requests_per_minute": 5}),
        seeded.patch("/api/v1/tiers/PRO", json={"requests_per_minute": 5}),
        seeded.delete("/api/v1/consumers/alice"),
        seeded.post("/api/v1/services/users/targets", json={"address": "127.0.0.1:9009"}),
        seeded.put("/api/v1/config", json=candidate()),
    ]
    for response in writes:
        refused(seeded, response, 409, "rollout_in_progress")
    assert store_state(seeded) == before


def test_a_second_rollout_is_409_while_one_runs(seeded: TestClient) -> None:
    start(seeded)
    response = seeded.post("/api/v1/rollouts", json={"release": 1, "selector": CANARY})
    refused(seeded, response, 409, "rollout_in_progress")
    assert ok(seeded.get("/api/v1/rollouts"))["total"] == 1


def test_promote_makes_the_candidate_the_stored_config_and_the_next_release(
    seeded: TestClient, plane: ControlPlane
) -> None:
    rollout = start(seeded)
    promoted = ok(seeded.post("/api/v1/rollouts/current/promote"))
    assert (promoted["state"], promoted["reason"]) == ("promoted", "promoted by admin")
    settle(seeded, plane)
    assert release_versions(seeded) == [2, 1]
    release = ok(seeded.get("/api/v1/releases/2"))
    assert release["hash"] == rollout["candidate_hash"]
    assert ok(seeded.get("/api/v1/services/users"))["targets"][0]["address"] == "127.0.0.1:9002"
    ok(seeded.post("/api/v1/tiers", json={"name": "FREE"}), 201)  # writes are open again


def test_rollback_ends_the_rollout_and_changes_nothing(
    seeded: TestClient, plane: ControlPlane
) -> None:
    before = store_state(seeded)
    start(seeded)
    rolled_back = ok(seeded.post("/api/v1/rollouts/current/rollback"))
    assert (rolled_back["state"], rolled_back["reason"]) == ("rolled_back", "rolled back by admin")
    settle(seeded, plane)
    after = store_state(seeded)
    assert (after["config"], after["releases"]) == (before["config"], before["releases"])
    assert ok(seeded.get("/api/v1/rollouts/current"))["state"] == "rolled_back"
    ok(seeded.post("/api/v1/tiers", json={"name": "FREE"}), 201)


def test_a_release_number_rolls_out_that_release_again(
    seeded: TestClient, plane: ControlPlane
) -> None:
    ok(seeded.patch("/api/v1/tiers/PRO", json={"requests_per_minute": 5}))
    settle(seeded, plane)
    rollout = ok(seeded.post("/api/v1/rollouts", json={"release": 1, "selector": CANARY}), 201)
    assert (rollout["active_version"], rollout["candidate_version"]) == (2, 3)
    assert rollout["source"] == {"release": 1}
    ok(seeded.post("/api/v1/rollouts/current/promote"))
    settle(seeded, plane)
    assert (
        ok(seeded.get("/api/v1/releases/3"))["hash"] == ok(seeded.get("/api/v1/releases/1"))["hash"]
    )


def test_every_step_is_in_the_audit_log(seeded: TestClient) -> None:
    start(seeded)
    ok(seeded.post("/api/v1/rollouts/current/rollback"))
    start(seeded)
    ok(seeded.post("/api/v1/rollouts/current/promote"))
    entries = ok(seeded.get("/api/v1/audit?kind=rollouts"))["items"]
    assert [(e["action"], e["name"]) for e in entries] == [
        ("promote", "2"),
        ("start", "2"),
        ("rollback", "1"),
        ("start", "1"),
    ]
    assert entries[0]["after"]["state"] == "promoted"
    changed = ok(seeded.get("/api/v1/audit?kind=services&name=users"))["items"][0]
    assert changed["action"] == "promote"


@pytest.mark.parametrize(
    ("selector", "field"),
    [
        ({"weight": 10}, "selector.weight"),
        ({}, "selector"),
        ({"percent": 10, "header": {"name": "x", "value": "1"}}, "selector"),
        ({"percent": 101}, "selector.percent"),
        ({"percent": -1}, "selector.percent"),
        ({"percent": 10, "by": "query:x"}, "selector"),
        ({"percent": 10, "by": "header:bad name"}, "selector"),
        ({"header": {"name": "x-canary\n", "value": "1"}}, "selector.header"),
        ({"nodes": {}}, "selector"),
        ({"nodes": {"bad key!": "x"}}, "selector"),
        ({"header": {"name": "x-canary", "value": "1"}, "by": "client_ip"}, "selector"),
    ],
)
def test_a_bad_selector_is_422_naming_it_and_changes_nothing(
    seeded: TestClient, selector: dict[str, Any], field: str
) -> None:
    before = store_state(seeded)
    response = seeded.post("/api/v1/rollouts", json={"config": candidate(), "selector": selector})
    body = refused(seeded, response, 422, "invalid")
    assert any(d["field"].startswith(field) for d in body["error"]["details"]), body
    assert store_state(seeded) == before
    refused(seeded, seeded.get("/api/v1/rollouts/current"), 404, "not_found")


@pytest.mark.parametrize(
    "gate",
    [
        {"soak": -1},
        {"min_requests": -5},
        {"max_error_rate_delta": -0.1},
        {"max_p99_ratio": -2},
        {"max_error_rate_delta": 2},
        {"soak": 1e9},
        {"cooldown": 5},
    ],
)
def test_a_bad_gate_is_422_naming_it(seeded: TestClient, gate: dict[str, Any]) -> None:
    response = seeded.post(
        "/api/v1/rollouts", json={"config": candidate(), "selector": CANARY, "gate": gate}
    )
    body = refused(seeded, response, 422, "invalid")
    assert all(d["field"].startswith("gate.") for d in body["error"]["details"]), body
    assert ok(seeded.get("/api/v1/rollouts"))["total"] == 0


def test_a_candidate_equal_to_the_active_config_is_422(seeded: TestClient) -> None:
    response = seeded.post("/api/v1/rollouts", json={"config": SEED, "selector": CANARY})
    body = refused(seeded, response, 422, "invalid")
    assert "equals the active config (release 1)" in body["error"]["message"]
    response = seeded.post("/api/v1/rollouts", json={"release": 1, "selector": CANARY})
    refused(seeded, response, 422, "invalid")
    assert ok(seeded.get("/api/v1/rollouts"))["total"] == 0


def test_a_candidate_that_would_not_compile_is_422_invalid_config(seeded: TestClient) -> None:
    broken = candidate()
    broken["routes"][0]["service"] = "nowhere"
    response = seeded.post("/api/v1/rollouts", json={"config": broken, "selector": CANARY})
    body = refused(seeded, response, 422, "invalid_config")
    assert body["error"]["details"][0]["field"].startswith("config.")


def test_an_unknown_release_is_422_naming_release(seeded: TestClient) -> None:
    response = seeded.post("/api/v1/rollouts", json={"release": 99, "selector": CANARY})
    body = refused(seeded, response, 422, "invalid")
    assert body["error"]["details"] == [{"field": "release", "message": "no release 99"}]


def test_both_or_neither_candidate_is_422(seeded: TestClient) -> None:
    for body in ({"selector": CANARY}, {"config": candidate(), "release": 1, "selector": CANARY}):
        refused(seeded, seeded.post("/api/v1/rollouts", json=body), 422, "invalid")


def test_a_rollout_needs_an_active_config(client: TestClient) -> None:
    response = client.post("/api/v1/rollouts", json={"config": candidate(), "selector": CANARY})
    refused(client, response, 409, "conflict")


@pytest.mark.parametrize("action", ["promote", "rollback"])
def test_promote_or_rollback_with_none_running_is_409_and_changes_nothing(
    seeded: TestClient, action: str
) -> None:
    before = store_state(seeded)
    refused(seeded, seeded.post(f"/api/v1/rollouts/current/{action}"), 409, "no_rollout_running")
    start(seeded)
    ok(seeded.post("/api/v1/rollouts/current/rollback"))
    refused(seeded, seeded.post(f"/api/v1/rollouts/current/{action}"), 409, "no_rollout_running")
    assert ok(seeded.get("/api/v1/rollouts/current"))["state"] == "rolled_back"
    assert store_state(seeded)["config"] == before["config"]


def test_the_openapi_document_describes_rollouts_with_examples(seeded: TestClient) -> None:
    document = ok(seeded.get("/openapi.json"))
    start_call = document["paths"]["/api/v1/rollouts"]["post"]
    assert {"201", "409", "422"} <= set(start_call["responses"])
    request = document["components"]["schemas"]["RolloutRequest"]
    assert request["examples"]
    assert "/api/v1/rollouts/current/promote" in document["paths"]
