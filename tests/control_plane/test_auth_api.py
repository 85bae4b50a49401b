"""Admin authentication, the error body's request id, and what needs no token."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from control_plane.admin_auth import AdminAuth
from control_plane.plane import ControlPlane
from control_plane.settings import ControlPlaneSettings
from control_plane.store.db import Database

from .conftest import TOKEN, ok, store_state

# Every admin call (the test below checks the OpenAPI document lists no other), by template.
PROTECTED = [
    *[
        (method, f"/api/v1/{kind}{path}")
        for kind in ("services", "routes", "tiers", "tenants", "consumers", "certificates")
        for method, path in [
            ("GET", ""),
            ("POST", ""),
            ("GET", "/{name}"),
            ("PUT", "/{name}"),
            ("PATCH", "/{name}"),
            ("DELETE", "/{name}"),
        ]
    ],
    ("GET", "/api/v1/services/{name}/targets"),
    ("POST", "/api/v1/services/{name}/targets"),
    ("PUT", "/api/v1/services/{name}/targets/{address}"),
    ("DELETE", "/api/v1/services/{name}/targets/{address}"),
    ("POST", "/api/v1/consumers/{name}/api-keys"),
    ("DELETE", "/api/v1/consumers/{name}/api-keys/{key_id}"),
    ("GET", "/api/v1/tenants/{name}/usage"),
    ("GET", "/api/v1/config"),
    ("PUT", "/api/v1/config"),
    ("GET", "/api/v1/releases"),
    ("GET", "/api/v1/releases/latest"),
    ("GET", "/api/v1/releases/{version}"),
    ("GET", "/api/v1/releases/{version}/snapshot"),
    ("GET", "/api/v1/releases/{a}/diff/{b}"),
    ("GET", "/api/v1/audit"),
    ("GET", "/api/v1/nodes"),
    ("GET", "/api/v1/nodes/{node_id}"),
    ("GET", "/api/v1/rollouts"),
    ("POST", "/api/v1/rollouts"),
    ("GET", "/api/v1/rollouts/current"),
    ("POST", "/api/v1/rollouts/current/promote"),
    ("POST", "/api/v1/rollouts/current/rollback"),
]
# Values of the seeded store, so that with the token each call would find its entity.
PATH_VALUES = {
    "name": "users",
    "address": "127.0.0.1:9001",
    "key_id": "ci",
    "version": "1",
    "a": "1",
    "b": "1",
    "node_id": "edge-1",
}
WRONG = {
    "no header": {},
    "wrong token": {"Authorization": "Bearer not-the-admin-token-at-all"},
    "token of another scheme": {"Authorization": f"Basic {TOKEN}"},
    "token with a suffix": {"Authorization": f"Bearer {TOKEN}x"},
    "empty bearer": {"Authorization": "Bearer "},
}


# The token is checked before any handler runs, so one store is enough to show it: the
# calls are many, and emptying the PostgreSQL store for each doubled the file's time.
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(("method", "template"), PROTECTED)
def test_every_api_call_without_the_right_token_is_401(
    seeded: TestClient, anonymous: TestClient, method: str, template: str
) -> None:
    path = template.format(**PATH_VALUES)
    before = store_state(seeded)
    for credentials, headers in WRONG.items():
        response = anonymous.request(method, path, headers=headers, json={})
        assert response.status_code == 401, credentials
        assert response.json()["error"]["code"] == "unauthorized"
        assert response.headers["WWW-Authenticate"] == "Bearer"
    assert store_state(seeded) == before


def test_the_token_is_checked_before_the_body_is_read(anonymous: TestClient) -> None:
    response = anonymous.post(
        "/api/v1/services", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 401


@pytest.mark.parametrize("path", ["/health", "/metrics", "/openapi.json", "/docs"])
def test_health_metrics_and_docs_need_no_token(anonymous: TestClient, path: str) -> None:
    assert anonymous.get(path).status_code == 200


def test_an_error_carries_the_request_id_the_client_sent(anonymous: TestClient) -> None:
    response = anonymous.get("/api/v1/services", headers={"X-Request-ID": "trace-42.a_b"})
    assert response.headers["X-Request-ID"] == "trace-42.a_b"
    assert response.json()["error"]["request_id"] == "trace-42.a_b"


@pytest.mark.parametrize("sent", ["has space", "x" * 129, "semi;colon"])
def test_an_invalid_request_id_is_replaced(anonymous: TestClient, sent: str) -> None:
    response = anonymous.get("/api/v1/services", headers={"X-Request-ID": sent})
    made = response.headers["X-Request-ID"]
    assert made != sent and len(made) == 32
    assert response.json()["error"]["request_id"] == made


def test_an_unknown_path_is_404_with_the_error_body(client: TestClient) -> None:
    error = ok(client.get("/api/v1/gateways"), 404)["error"]
    assert error["code"] == "not_found" and error["request_id"]


def test_an_unsupported_method_is_405_with_the_error_body(client: TestClient) -> None:
    assert ok(client.delete("/api/v1/services"), 405)["error"]["code"] == "method_not_allowed"


def test_the_actor_header_names_who_changed_what_in_the_audit_log(seeded: TestClient) -> None:
    ok(seeded.patch("/api/v1/tiers/PRO", json={"priority": 5}, headers={"X-Actor": "ops-bot"}))
    entry = ok(seeded.get("/api/v1/audit"))["items"][0]
    assert (entry["actor"], entry["action"], entry["kind"], entry["name"]) == (
        "ops-bot",
        "patch",
        "tiers",
        "PRO",
    )


def test_an_invalid_actor_header_is_422(seeded: TestClient) -> None:
    response = seeded.patch("/api/v1/tiers/PRO", json={}, headers={"X-Actor": "a b"})
    assert ok(response, 422)["error"]["details"][0]["field"] == "X-Actor"


def test_the_401_test_covers_every_admin_call_of_the_openapi_document(
    anonymous: TestClient,
) -> None:
    document = ok(anonymous.get("/openapi.json"))
    documented = {
        (method.upper(), path)
        for path, operations in document["paths"].items()
        if path.startswith("/api/")
        for method in operations
    }
    assert documented == set(PROTECTED)


def test_every_request_body_in_the_openapi_document_has_an_example(anonymous: TestClient) -> None:
    document = ok(anonymous.get("/openapi.json"))
    schemas = document["components"]["schemas"]
    missing = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for media_type, content in operation.get("requestBody", {}).get("content", {}).items():
                schema = content["schema"]
                if "$ref" in schema:
                    schema = schemas[schema["$ref"].rsplit("/", 1)[1]]
                if not (content.get("examples") or schema.get("examples")):
                    missing.append(f"{method.upper()} {path} ({media_type})")
    assert missing == []


def test_invalid_input_is_documented_as_the_error_body(anonymous: TestClient) -> None:
    document = ok(anonymous.get("/openapi.json"))
    answers = [
        operation["responses"]["422"]
        for operations in document["paths"].values()
        for operation in operations.values()
        if "422" in operation["responses"]
    ]
    assert answers
    for answer in answers:
        schema = answer["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/ErrorBody"}
    assert "HTTPValidationError" not in document["components"]["schemas"]


def test_the_openapi_document_describes_every_admin_call(anonymous: TestClient) -> None:
    document = ok(anonymous.get("/openapi.json"))
    operations = [op for path in document["paths"].values() for op in path.values()]
    assert all(op.get("summary") for op in operations)
    secured = [
        op for p, ops in document["paths"].items() if p.startswith("/api/") for op in ops.values()
    ]
    assert all(op.get("security") for op in secured)
    assert all("401" in op["responses"] for op in secured)
    service = document["components"]["schemas"]["ServiceSpec"]
    assert service["examples"][0]["name"] == "users"


def test_health_says_ok_when_the_store_answers(anonymous: TestClient) -> None:
    assert ok(anonymous.get("/health")) == {"status": "ok"}


def test_health_is_503_with_the_error_body_when_the_store_cannot_be_reached(
    admin_app: FastAPI, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'missing-dir' / 'fleetgate.db'}"
    db = Database(url)
    admin_app.state.plane = ControlPlane.build(
        ControlPlaneSettings(db=url), db, AdminAuth.for_token(TOKEN)
    )
    try:
        error = ok(TestClient(admin_app).get("/health"), 503)["error"]  # no lifespan: no store
    finally:
        db.dispose()
    assert error["code"] == "unavailable"
    assert "store cannot be reached" in error["message"]
