"""CRUD of every entity kind over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime

import pytest
from fastapi.testclient import TestClient

from data_plane.config.model import SPEC_BY_KIND, dump_entity

from .conftest import ok

# kind -> (a new entity, a merge patch for it, the entity after that patch)
SAMPLES = {
    "services": (
        {"name": "orders", "targets": [{"address": "127.0.0.1:9002"}]},
        {"retries": 3},
        {"name": "orders", "targets": [{"address": "127.0.0.1:9002"}], "retries": 3},
    ),
    "routes": (
        {"name": "orders-api", "paths": ["/orders/**"], "service": "users"},
        {"methods": ["get"]},
        {"name": "orders-api", "paths": ["/orders/**"], "methods": ["GET"], "service": "users"},
    ),
    "tiers": (
        {"name": "FREE", "requests_per_minute": 60},
        {"requests_per_minute": 30, "monthly_quota": 1000},
        {"name": "FREE", "requests_per_minute": 30, "monthly_quota": 1000},
    ),
    "tenants": (
        {"name": "globex", "tier": "PRO"},
        {"metadata": {"region": "eu"}},
        {"name": "globex", "tier": "PRO", "metadata": {"region": "eu"}},
    ),
    "consumers": (
        {"name": "bob", "tenant": "acme"},
        {"roles": ["billing"]},
        {"name": "bob", "tenant": "acme", "roles": ["billing"]},
    ),
}
KINDS = list(SAMPLES)


def without_stamps(entity: dict) -> dict:
    return {k: v for k, v in entity.items() if k not in {"created_at", "updated_at"}}


def read_back(kind: str, body: dict) -> dict:
    """`body` as the API reads it back: every field, defaults included."""
    return dump_entity(SPEC_BY_KIND[kind].model_validate(body), full=True)


@pytest.mark.parametrize("kind", KINDS)
def test_create_answers_201_with_the_entity_and_its_timestamps(
    seeded: TestClient, kind: str
) -> None:
    body, _, _ = SAMPLES[kind]
    created = ok(seeded.post(f"/api/v1/{kind}", json=body), 201)
    assert without_stamps(created) == read_back(kind, body)
    assert datetime.fromisoformat(created["created_at"]) == datetime.fromisoformat(
        created["updated_at"]
    )


@pytest.mark.parametrize("kind", KINDS)
def test_get_returns_what_was_created(seeded: TestClient, kind: str) -> None:
    body, _, _ = SAMPLES[kind]
    created = ok(seeded.post(f"/api/v1/{kind}", json=body), 201)
    assert ok(seeded.get(f"/api/v1/{kind}/{body['name']}")) == created


@pytest.mark.parametrize("kind", KINDS)
def test_list_holds_every_entity_ordered_by_name(seeded: TestClient, kind: str) -> None:
    body, _, _ = SAMPLES[kind]
    ok(seeded.post(f"/api/v1/{kind}", json=body), 201)
    listed = ok(seeded.get(f"/api/v1/{kind}"))
    names = [item["name"] for item in listed["items"]]
    assert listed["total"] == 2
    assert names == sorted(names) and body["name"] in names


@pytest.mark.parametrize("kind", KINDS)
def test_replace_writes_the_whole_entity_and_keeps_its_creation_time(
    seeded: TestClient, kind: str
) -> None:
    body, _, patched = SAMPLES[kind]
    created = ok(seeded.post(f"/api/v1/{kind}", json=body), 201)
    replaced = ok(seeded.put(f"/api/v1/{kind}/{body['name']}", json=patched))
    assert without_stamps(replaced) == read_back(kind, patched)
    assert replaced["created_at"] == created["created_at"]
    assert replaced["updated_at"] > created["updated_at"]


@pytest.mark.parametrize("kind", KINDS)
def test_patch_merges_into_the_stored_entity(seeded: TestClient, kind: str) -> None:
    body, patch, patched = SAMPLES[kind]
    ok(seeded.post(f"/api/v1/{kind}", json=body), 201)
    answer = ok(seeded.patch(f"/api/v1/{kind}/{body['name']}", json=patch))
    assert without_stamps(answer) == read_back(kind, patched)
    got = ok(seeded.get(f"/api/v1/{kind}/{body['name']}"))
    assert without_stamps(got) == read_back(kind, patched)


@pytest.mark.parametrize("kind", KINDS)
def test_delete_answers_204_and_the_entity_is_gone(seeded: TestClient, kind: str) -> None:
    body, _, _ = SAMPLES[kind]
    ok(seeded.post(f"/api/v1/{kind}", json=body), 201)
    response = seeded.delete(f"/api/v1/{kind}/{body['name']}")
    assert response.status_code == 204 and response.content == b""
    assert seeded.get(f"/api/v1/{kind}/{body['name']}").status_code == 404


@pytest.mark.parametrize("kind", KINDS)
def test_an_unknown_name_is_404_with_the_error_body(seeded: TestClient, kind: str) -> None:
    body = {**SAMPLES[kind][0], "name": "ghost"}
    for method in ("GET", "PUT", "PATCH", "DELETE"):
        sent = None if method in {"GET", "DELETE"} else body
        error = ok(seeded.request(method, f"/api/v1/{kind}/ghost", json=sent), 404)["error"]
        assert error["code"] == "not_found" and "ghost" in error["message"], method


@pytest.mark.parametrize("kind", KINDS)
def test_creating_a_taken_name_is_409(seeded: TestClient, kind: str) -> None:
    body, _, _ = SAMPLES[kind]
    ok(seeded.post(f"/api/v1/{kind}", json=body), 201)
    assert ok(seeded.post(f"/api/v1/{kind}", json=body), 409)["error"]["code"] == "conflict"


@pytest.mark.parametrize(
    ("kind", "name", "user"),
    [("services", "users", "users-api"), ("tiers", "PRO", "acme"), ("tenants", "acme", "alice")],
)
def test_deleting_what_another_entity_uses_is_409_naming_it(
    seeded: TestClient, kind: str, name: str, user: str
) -> None:
    error = ok(seeded.delete(f"/api/v1/{kind}/{name}"), 409)["error"]
    assert error["code"] == "conflict" and repr(user) in error["message"]
    ok(seeded.get(f"/api/v1/{kind}/{name}"))


def test_list_pages_with_limit_and_offset_and_counts_every_match(seeded: TestClient) -> None:
    for i in range(5):
        ok(seeded.post("/api/v1/tiers", json={"name": f"T{i}"}), 201)
    page = ok(seeded.get("/api/v1/tiers", params={"limit": 2, "offset": 1}))
    assert [t["name"] for t in page["items"]] == ["T0", "T1"]
    assert page["total"] == 6


def test_list_filters_by_name_and_by_every_tag_given(seeded: TestClient) -> None:
    ok(seeded.post("/api/v1/tiers", json={"name": "gold", "tags": ["paid", "eu"]}), 201)
    ok(seeded.post("/api/v1/tiers", json={"name": "silver", "tags": ["paid"]}), 201)
    ok(seeded.post("/api/v1/tiers", json={"name": "golden-eu", "tags": ["eu"]}), 201)

    def names(**params: object) -> list[str]:
        return [t["name"] for t in ok(seeded.get("/api/v1/tiers", params=params))["items"]]

    assert names(name="gold") == ["gold", "golden-eu"]
    assert names(tag="paid") == ["gold", "silver"]
    assert names(tag=["paid", "eu"]) == ["gold"]
    assert names(name="%") == []


def test_a_list_limit_above_1000_is_422(seeded: TestClient) -> None:
    error = ok(seeded.get("/api/v1/services", params={"limit": 1001}), 422)["error"]
    assert error["details"][0]["field"] == "limit"


def test_patch_null_resets_a_field_to_its_default(seeded: TestClient) -> None:
    ok(seeded.patch("/api/v1/services/users", json={"retries": 4}))
    answer = ok(seeded.patch("/api/v1/services/users", json={"retries": None}))
    assert answer["retries"] == 0


def test_replace_with_another_name_in_the_body_is_422_naming_name(seeded: TestClient) -> None:
    body = {"name": "other", "targets": [{"address": "127.0.0.1:9001"}]}
    error = ok(seeded.put("/api/v1/services/users", json=body), 422)["error"]
    assert error["details"] == [
        {"field": "name", "message": "must be 'users', the name in the path"}
    ]


def test_a_route_can_move_to_another_service(seeded: TestClient) -> None:
    ok(seeded.post("/api/v1/services", json=SAMPLES["services"][0]), 201)
    ok(seeded.patch("/api/v1/routes/users-api", json={"service": "orders"}))
    assert ok(seeded.get("/api/v1/routes/users-api"))["service"] == "orders"
    assert seeded.delete("/api/v1/services/users").status_code == 204


def test_an_entity_reads_back_with_every_field_defaults_included(seeded: TestClient) -> None:
    sent = {"name": "orders", "targets": [{"address": "127.0.0.1:9002", "weight": 1}]}
    ok(seeded.post("/api/v1/services", json=sent), 201)
    got = ok(seeded.get("/api/v1/services/orders"))
    assert got["targets"] == [{"address": "127.0.0.1:9002", "weight": 1}]
    assert got["load_balancer"] == "round_robin" and got["retries"] == 0
    assert got["retry_non_idempotent"] is False
    assert got["timeouts"] == {"connect": 5.0, "read": 60.0, "total": None, "per_try": None}
    assert got["hash_key"] is None and got["tags"] == []
    assert set(got) == {*SPEC_BY_KIND["services"].model_fields, "created_at", "updated_at"}


@pytest.mark.parametrize("kind", KINDS)
def test_an_entity_read_back_can_be_sent_back_unchanged(seeded: TestClient, kind: str) -> None:
    body, _, _ = SAMPLES[kind]
    created = ok(seeded.post(f"/api/v1/{kind}", json=body), 201)
    replaced = ok(seeded.put(f"/api/v1/{kind}/{body['name']}", json=without_stamps(created)))
    assert replaced == created


def test_an_unknown_query_parameter_is_422_naming_it(seeded: TestClient) -> None:
    error = ok(seeded.get("/api/v1/services", params={"limt": 5}), 422)["error"]
    assert error["details"][0]["field"] == "limt"
    assert "unknown query parameter" in error["details"][0]["message"]
    error = ok(seeded.delete("/api/v1/consumers/alice", params={"force": "1"}), 422)["error"]
    assert error["details"][0]["field"] == "force"
    ok(seeded.get("/api/v1/consumers/alice"))  # refused before anything was deleted


def test_known_query_parameters_of_a_dependency_are_accepted(seeded: TestClient) -> None:
    ok(seeded.get("/api/v1/audit", params={"limit": 1, "offset": 0, "kind": "services"}))


# ---------------------------------------------------------------- targets


def test_a_target_can_be_added_listed_reweighted_and_removed(seeded: TestClient) -> None:
    target = {"address": "127.0.0.1:9009", "weight": 3}
    assert ok(seeded.post("/api/v1/services/users/targets", json=target), 201) == target
    listed = ok(seeded.get("/api/v1/services/users/targets"))
    assert listed["items"] == [{"address": "127.0.0.1:9001", "weight": 1}, target]
    drained = {"address": "127.0.0.1:9009", "weight": 0}
    ok(seeded.put("/api/v1/services/users/targets/127.0.0.1:9009", json=drained))
    assert ok(seeded.get("/api/v1/services/users"))["targets"][1] == drained
    assert seeded.delete("/api/v1/services/users/targets/127.0.0.1:9009").status_code == 204
    assert ok(seeded.get("/api/v1/services/users"))["targets"] == [
        {"address": "127.0.0.1:9001", "weight": 1}
    ]


def test_adding_a_target_twice_is_409(seeded: TestClient) -> None:
    target = {"address": "127.0.0.1:9001"}
    assert (
        ok(seeded.post("/api/v1/services/users/targets", json=target), 409)["error"]["code"]
        == "conflict"
    )


def test_removing_the_last_target_is_422_naming_the_targets(seeded: TestClient) -> None:
    error = ok(seeded.delete("/api/v1/services/users/targets/127.0.0.1:9001"), 422)["error"]
    assert error["details"][0]["field"] == "services.users.targets"


def test_an_unknown_target_is_404(seeded: TestClient) -> None:
    assert seeded.delete("/api/v1/services/users/targets/127.0.0.1:1").status_code == 404


# ---------------------------------------------------------------- API keys


def test_a_generated_api_key_is_shown_once_and_stored_as_its_hash(seeded: TestClient) -> None:
    created = ok(seeded.post("/api/v1/consumers/alice/api-keys", json={"id": "ci"}), 201)
    assert created["id"] == "ci" and len(created["key"]) >= 32
    stored = ok(seeded.get("/api/v1/consumers/alice"))["api_keys"]
    assert stored == [{"id": "ci", "hash": created["hash"]}]
    assert created["key"] not in seeded.get("/api/v1/config").text


def test_an_api_key_given_as_key_is_stored_hashed(seeded: TestClient) -> None:
    key = "k" * 24
    body = {"name": "carol", "api_keys": [{"id": "main", "key": key}]}
    created = ok(seeded.post("/api/v1/consumers", json=body), 201)
    assert created["api_keys"][0].keys() == {"id", "hash"}
    assert key not in seeded.get("/api/v1/consumers/carol").text


def test_an_api_key_can_be_revoked(seeded: TestClient) -> None:
    ok(seeded.post("/api/v1/consumers/alice/api-keys", json={"id": "ci"}), 201)
    assert seeded.delete("/api/v1/consumers/alice/api-keys/ci").status_code == 204
    assert ok(seeded.get("/api/v1/consumers/alice"))["api_keys"] == []
    assert seeded.delete("/api/v1/consumers/alice/api-keys/ci").status_code == 404
