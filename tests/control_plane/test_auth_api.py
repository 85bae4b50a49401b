"""Admin authentication, the error body's request id, and what needs no token."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from .conftest import TOKEN, ok, store_state

PROTECTED = [
    ("GET", "/api/v1/services"),
    ("POST", "/api/v1/services"),
    ("GET", "/api/v1/services/users"),
    ("PUT", "/api/v1/routes/users-api"),
    ("PATCH", "/api/v1/tiers/PRO"),
    ("DELETE", "/api/v1/tenants/acme"),
    ("POST", "/api/v1/consumers/alice/api-keys"),
    ("GET", "/api/v1/config"),
    ("PUT", "/api/v1/config"),
    ("GET", "/api/v1/releases"),
    ("GET", "/api/v1/releases/1"),
    ("GET", "/api/v1/releases/1/diff/1"),
    ("GET", "/api/v1/audit"),
]
WRONG = {
    "no header": {},
    "wrong token": {"Authorization": "Bearer not-the-admin-token-at-all"},
    "token of another scheme": {"Authorization": f"Basic {TOKEN}"},
    "token with a suffix": {"Authorization": f"Bearer {TOKEN}x"},
    "empty bearer": {"Authorization": "Bearer "},
}


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_every_api_call_without_the_right_token_is_401(
    seeded: TestClient, anonymous: TestClient, method: str, path: str
) -> None:
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
