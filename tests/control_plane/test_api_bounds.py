"""Every input of the admin API is bounded like the column it lands in: what does not
fit is a 4xx naming it, on SQLite and on PostgreSQL, and the store stays as it was."""

# ruff: noqa: E501 - a table of cases reads best one per line
from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from control_plane.api import json_body

from .conftest import ok, store_state

BIG = 2**63
TARGET = {"address": "127.0.0.1:9002"}
ROUTE = {"name": "r2", "paths": ["/r2/**"], "service": "users"}


# ---------------------------------------------------------------- bodies
BODIES: dict[str, tuple[str, str, Any]] = {
    "NUL in an address": ("POST", "/api/v1/services", {"name": "s", "targets": [{"address": "a\x00b:80"}]}),
    "control byte in an address": ("POST", "/api/v1/services", {"name": "s", "targets": [{"address": "a\x01:80"}]}),
    "address over 300 characters": ("POST", "/api/v1/services", {"name": "s", "targets": [{"address": "a" * 301 + ":80"}]}),
    "full-width port": ("POST", "/api/v1/services", {"name": "s", "targets": [{"address": "h:\uff18\uff10"}]}),
    "Arabic-Indic port": ("POST", "/api/v1/services", {"name": "s", "targets": [{"address": "h:\u0668\u0660"}]}),
    "weight true": ("POST", "/api/v1/services", {"name": "s", "targets": [{**TARGET, "weight": True}]}),
    "retries as text": ("POST", "/api/v1/services", {"name": "s", "targets": [TARGET], "retries": "2"}),
    "NUL in a tag": ("POST", "/api/v1/services", {"name": "s", "targets": [TARGET], "tags": ["a\x00"]}),
    "1 MB host": ("POST", "/api/v1/routes", {**ROUTE, "hosts": ["a" * 1_000_000 + ".com"]}),
    "host with a line feed": ("POST", "/api/v1/routes", {**ROUTE, "hosts": ["a.com\n"]}),
    "1 MB path": ("POST", "/api/v1/routes", {**ROUTE, "paths": ["/" + "a" * 1_000_000]}),
    "header change on Host": ("POST", "/api/v1/routes", {**ROUTE, "request_headers": {"set": {"Host": "x"}}}),
    "header change on Content-Length": ("POST", "/api/v1/routes", {**ROUTE, "response_headers": {"set": {"Content-Length": "0"}}}),
    "header change on Transfer-Encoding": ("POST", "/api/v1/routes", {**ROUTE, "response_headers": {"add": {"transfer-encoding": "chunked"}}}),
    "header removal of Connection": ("POST", "/api/v1/routes", {**ROUTE, "request_headers": {"remove": ["Connection"]}}),
    "header name with a line feed": ("POST", "/api/v1/routes", {**ROUTE, "request_headers": {"set": {"X-A\n": "v"}}}),
    "escape in a header value": ("POST", "/api/v1/routes", {**ROUTE, "request_headers": {"set": {"x-a": "\x1b[31m"}}}),
    "backreference": ("POST", "/api/v1/routes", {**ROUTE, "paths": ["~/(a)\\1"]}),
    "1 MB metadata": ("POST", "/api/v1/tenants", {"name": "t", "tier": "PRO", "metadata": {"k": "v" * 1_000_000}}),
    "NUL in metadata": ("POST", "/api/v1/tenants", {"name": "t", "tier": "PRO", "metadata": {"k": "\x00"}}),
    "1 MB role": ("POST", "/api/v1/consumers", {"name": "c", "roles": ["r" * 1_000_000]}),
    "NUL in a query parameter to add": ("POST", "/api/v1/routes", {**ROUTE, "transform": {"add_query": {"a": "\x00"}}}),
    "priority 2^63": ("POST", "/api/v1/routes", {**ROUTE, "priority": BIG}),
    "weight 2^64": ("PUT", "/api/v1/services/users/targets/127.0.0.1:9001", {"address": "127.0.0.1:9001", "weight": 2**64}),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(BODIES))
def test_a_body_that_does_not_fit_is_422_and_stores_nothing(seeded: TestClient, case: str) -> None:
    method, path, body = BODIES[case]
    before = store_state(seeded)
    answer = seeded.request(method, path, json=body)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["code"] in {"invalid", "invalid_config"}
    assert store_state(seeded) == before


@pytest.mark.parametrize(
    "raw",
    [
        b'{"name": "s", "name": "t", "targets": [{"address": "127.0.0.1:9"}]}',
        b'{"name": "s", "targets": [{"address": "127.0.0.1:9", "weight": 1, "weight": 0}]}',
        b"[" * 100_000 + b"]" * 100_000,
        b'{"name": "s", "retries": ' + b"9" * 5000 + b"}",
    ],
    ids=["duplicate key", "duplicate nested key", "nested too deep", "number of 5000 digits"],
)
def test_json_the_api_will_not_read_is_422(seeded: TestClient, raw: bytes) -> None:
    before = store_state(seeded)
    answer = seeded.post(
        "/api/v1/services", content=raw, headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 422, answer.text
    assert "not valid JSON" in answer.json()["error"]["message"]
    assert store_state(seeded) == before


def test_a_body_over_the_limit_is_413(seeded: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(json_body, "MAX_BODY_BYTES", 1000)
    answer = seeded.post("/api/v1/services", json={"name": "s", "tags": ["t" * 60] * 20})
    assert answer.status_code == 413, answer.text
    assert answer.json()["error"]["code"] == "too_large"


# ---------------------------------------------------------------- paths, queries, headers


@pytest.mark.parametrize(
    "path",
    [
        f"/api/v1/services?offset={BIG}",
        f"/api/v1/releases?offset={BIG}",
        f"/api/v1/audit?offset={BIG}",
        f"/api/v1/nodes?offset={BIG}",
        f"/api/v1/releases/{BIG}",
        f"/api/v1/releases/1/diff/{BIG}",
        f"/api/v1/releases/{BIG}/diff/1",
        "/api/v1/services/a%00b",
        "/api/v1/services/users%0A",
        "/api/v1/services?name=a%00",
        "/api/v1/services?tag=a%00",
        "/api/v1/services?" + "&".join(f"tag=t{i}" for i in range(51)),
        "/api/v1/audit?name=a%00",
        "/api/v1/nodes/edge-1%0A",
        "/api/v1/services/users/targets/a%00b:80",
    ],
)
def test_a_parameter_that_does_not_fit_is_422(seeded: TestClient, path: str) -> None:
    method = "DELETE" if "/targets/" in path else "GET"
    answer = seeded.request(method, path)
    assert answer.status_code == 422, answer.text


def test_the_largest_offset_that_fits_is_an_empty_page(seeded: TestClient) -> None:
    assert ok(seeded.get(f"/api/v1/services?offset={BIG - 1}"))["items"] == []


def test_an_actor_with_a_line_feed_is_refused(seeded: TestClient) -> None:
    answer = seeded.post("/api/v1/tiers", json={"name": "FREE"}, headers={"X-Actor": "eve\n"})
    assert answer.status_code in {400, 422}, answer.text


def test_a_request_id_with_a_trailing_line_feed_is_replaced(seeded: TestClient) -> None:
    answer = seeded.get("/api/v1/services", headers={"X-Request-ID": "abc\n"})
    assert answer.headers["X-Request-ID"] != "abc\n"
    assert len(answer.headers["X-Request-ID"]) == 32
