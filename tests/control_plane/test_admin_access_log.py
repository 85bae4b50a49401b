"""The admin API logs each request: method, path, status, duration and request id, no token."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from tests.control_plane.conftest import AUTH, TOKEN


def test_each_admin_request_is_logged_with_its_request_id_and_without_the_token(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="fleetgate.admin.access"):
        response = client.get(
            "/api/v1/services/nope", headers={**AUTH, "X-Request-ID": "admin-req-1"}
        )
    assert response.status_code == 404
    [record] = [r for r in caplog.records if r.name == "fleetgate.admin.access"]
    fields = record.fields  # type: ignore[attr-defined]
    assert fields["method"] == "GET"
    assert fields["path"] == "/api/v1/services/nope"
    assert fields["status"] == 404
    assert fields["request_id"] == "admin-req-1" == response.headers["X-Request-ID"]
    assert fields["duration_ms"] >= 0
    message = record.getMessage()
    assert "GET /api/v1/services/nope 404" in message and "admin-req-1" in message
    assert TOKEN not in message and TOKEN not in str(fields)


def test_a_refused_admin_request_is_logged_too(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="fleetgate.admin.access"):
        response = client.get("/api/v1/services", headers={"Authorization": "Bearer wrong"})
    assert response.status_code == 401
    [record] = [r for r in caplog.records if r.name == "fleetgate.admin.access"]
    assert record.fields["status"] == 401  # type: ignore[attr-defined]
    assert "wrong" not in record.getMessage()
