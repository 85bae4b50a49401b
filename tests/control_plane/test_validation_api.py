"""Invalid input is refused with 4xx naming the field; the store and releases stay as they were."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from .conftest import ok, store_state

TARGET = {"address": "127.0.0.1:9002"}

# (method, path, body, status, code, field named in the error)
CASES: dict[str, tuple[str, str, Any, int, str, str]] = {
    "missing name": ("POST", "/api/v1/services", {"targets": [TARGET]}, 422, "invalid", "name"),
    "missing paths": (
        "POST",
        "/api/v1/routes",
        {"name": "r", "service": "users"},
        422,
        "invalid",
        "paths",
    ),
    "unknown field": (
        "POST",
        "/api/v1/services",
        {"name": "s", "targets": [TARGET], "retires": 2},
        422,
        "invalid",
        "retires",
    ),
    "unknown nested field": (
        "POST",
        "/api/v1/services",
        {"name": "s", "targets": [{**TARGET, "wieght": 2}]},
        422,
        "invalid",
        "targets.0.wieght",
    ),
    "wrong type": (
        "POST",
        "/api/v1/services",
        {"name": "s", "targets": [TARGET], "retries": "many"},
        422,
        "invalid",
        "retries",
    ),
    "weight above range": (
        "POST",
        "/api/v1/services",
        {"name": "s", "targets": [{**TARGET, "weight": 65_536}]},
        422,
        "invalid",
        "targets.0.weight",
    ),
    "weight below range": (
        "POST",
        "/api/v1/services",
        {"name": "s", "targets": [{**TARGET, "weight": -1}]},
        422,
        "invalid",
        "targets.0.weight",
    ),
    "bad name": ("POST", "/api/v1/tiers", {"name": "no spaces"}, 422, "invalid", "name"),
    "health checks more often than every 0.1 s": (
        "POST",
        "/api/v1/services",
        {"name": "s", "targets": [TARGET], "health_check": {"interval": 0.01}},
        422,
        "invalid",
        "health_check.interval",
    ),
    "service without targets": (
        "POST",
        "/api/v1/services",
        {"name": "empty"},
        422,
        "invalid_config",
        "services.empty.targets",
    ),
    "route to a missing service": (
        "POST",
        "/api/v1/routes",
        {"name": "lost", "paths": ["/lost"], "service": "nowhere"},
        422,
        "invalid_config",
        "routes.lost.service",
    ),
    "regex that does not compile": (
        "POST",
        "/api/v1/routes",
        {"name": "rx", "paths": ["~/(unclosed"], "service": "users"},
        422,
        "invalid_config",
        "routes.rx.paths.0",
    ),
    "same hosts, path, methods and priority as another route": (
        "POST",
        "/api/v1/routes",
        {"name": "users-copy", "paths": ["/users/**"], "service": "users"},
        422,
        "invalid_config",
        "routes.users-copy.paths.0",
    ),
    "tenant of an unknown tier": (
        "POST",
        "/api/v1/tenants",
        {"name": "t", "tier": "GOLD"},
        422,
        "invalid_config",
        "tenants.t.tier",
    ),
    "consumer of an unknown tenant": (
        "POST",
        "/api/v1/consumers",
        {"name": "c", "tenant": "nobody"},
        422,
        "invalid_config",
        "consumers.c.tenant",
    ),
    "patch to a wrong type": (
        "PATCH",
        "/api/v1/services/users",
        {"retries": "x"},
        422,
        "invalid",
        "retries",
    ),
    "patch to an unknown field": (
        "PATCH",
        "/api/v1/tiers/PRO",
        {"requests_per_minnute": 5},
        422,
        "invalid",
        "requests_per_minnute",
    ),
    "patch into an inconsistent config": (
        "PATCH",
        "/api/v1/routes/users-api",
        {"service": "nowhere"},
        422,
        "invalid_config",
        "routes.users-api.service",
    ),
    "replace with a bad weight": (
        "PUT",
        "/api/v1/services/users",
        {"name": "users", "targets": [{**TARGET, "weight": 100_000}]},
        422,
        "invalid",
        "targets.0.weight",
    ),
    "whole config with an unknown kind": (
        "PUT",
        "/api/v1/config",
        {"servics": []},
        422,
        "invalid",
        "servics",
    ),
    "whole config referring to a missing tier": (
        "PUT",
        "/api/v1/config",
        {"tenants": [{"name": "acme", "tier": "GONE"}]},
        422,
        "invalid_config",
        "tenants.acme.tier",
    ),
    "whole config naming an entity twice": (
        "PUT",
        "/api/v1/config",
        {"tiers": [{"name": "A"}, {"name": "A"}]},
        422,
        "invalid_config",
        "tiers.A",
    ),
    "a body that is not an object": ("POST", "/api/v1/tiers", ["PRO"], 422, "invalid", ""),
    **{
        f"retry_non_idempotent {value!r}": (
            "POST",
            "/api/v1/services",
            {"name": "s", "targets": [TARGET], "retry_non_idempotent": value},
            422,
            "invalid",
            "retry_non_idempotent",
        )
        for value in ("yes", "true", 1, 2, None, [], {})
    },
    **{
        f"per_try {value!r}": (
            "POST",
            "/api/v1/services",
            {"name": "s", "targets": [TARGET], "timeouts": {"per_try": value}},
            422,
            "invalid",
            "timeouts.per_try",
        )
        for value in (0, -1, 86_401, "soon")
    },
}


@pytest.mark.parametrize("case", list(CASES))
def test_invalid_input_is_refused_naming_the_field_and_nothing_changes(
    seeded: TestClient, case: str
) -> None:
    method, path, body, status, code, field = CASES[case]
    before = store_state(seeded)
    error = ok(seeded.request(method, path, json=body), status)["error"]
    assert error["code"] == code
    assert field in [d["field"] for d in error["details"]], error
    assert field in error["message"]
    assert store_state(seeded) == before


def test_a_service_whose_targets_are_all_drained_is_accepted(seeded: TestClient) -> None:
    # It answers 503 no_healthy_target until a target gets a weight again.
    drained = {"name": "drained", "targets": [{**TARGET, "weight": 0}]}
    assert ok(seeded.post("/api/v1/services", json=drained), 201)["targets"] == drained["targets"]


def test_a_malformed_json_body_is_422_and_changes_nothing(seeded: TestClient) -> None:
    before = store_state(seeded)
    response = seeded.post(
        "/api/v1/tiers", content=b'{"name": ', headers={"Content-Type": "application/json"}
    )
    assert "not valid JSON" in ok(response, 422)["error"]["message"]
    assert store_state(seeded) == before


def test_every_problem_of_a_body_is_listed(seeded: TestClient) -> None:
    body = {"name": "s", "targets": [{"address": "nowhere", "weight": -5}], "retries": 99}
    error = ok(seeded.post("/api/v1/services", json=body), 422)["error"]
    fields = {d["field"] for d in error["details"]}
    assert fields == {"targets.0.address", "targets.0.weight", "retries"}


def test_an_invalid_whole_config_stores_none_of_it(seeded: TestClient) -> None:
    before = store_state(seeded)
    document = {
        "services": [{"name": "orders", "targets": [TARGET]}],
        "routes": [{"name": "orders-api", "paths": ["/orders"], "service": "missing"}],
    }
    ok(seeded.put("/api/v1/config", json=document), 422)
    assert store_state(seeded) == before
    assert seeded.get("/api/v1/services/orders").status_code == 404
