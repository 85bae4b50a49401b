"""GET /api/v1/tenants/{name}/usage: a tenant's tier, quota and what it used of it."""

from __future__ import annotations

import time
import uuid

import redis
from fastapi.testclient import TestClient

from control_plane.plane import ControlPlane
from data_plane.limits.redis_backend import quota_key

from .conftest import ok


def test_without_redis_the_usage_names_the_tier_and_says_nodes_count_it(
    seeded: TestClient,
) -> None:
    ok(seeded.put("/api/v1/tiers/PRO", json={"name": "PRO", "monthly_quota": 5000}))
    usage = ok(seeded.get("/api/v1/tenants/acme/usage"))
    assert usage == {
        "tenant": "acme",
        "tier": "PRO",
        "month": time.strftime("%Y-%m", time.gmtime()),
        "monthly_quota": 5000,
        "used": None,
        "remaining": None,
        "counted_in": "nodes",
    }


def test_with_redis_the_usage_reads_the_quota_counter_the_nodes_keep_there(
    seeded: TestClient, plane: ControlPlane, redis_url: str
) -> None:
    ok(seeded.put("/api/v1/tiers/PRO", json={"name": "PRO", "monthly_quota": 5000}))
    prefix = f"fgtest-{uuid.uuid4().hex[:12]}"
    plane.settings.redis_url = redis_url
    plane.settings.redis_key_prefix = prefix
    key = quota_key(prefix, "acme", time.strftime("%Y-%m", time.gmtime()))
    client = redis.Redis.from_url(redis_url)
    client.set(key, 1234)
    try:
        usage = ok(seeded.get("/api/v1/tenants/acme/usage"))
        assert (usage["used"], usage["remaining"], usage["counted_in"]) == (1234, 3766, "redis")
    finally:
        client.delete(key)


def test_an_unreachable_redis_is_a_503(seeded: TestClient, plane: ControlPlane) -> None:
    plane.settings.redis_url = "redis://127.0.0.1:1/0"
    error = ok(seeded.get("/api/v1/tenants/acme/usage"), 503)["error"]
    assert "Redis" in error["message"]


def test_the_usage_of_an_unknown_tenant_is_404(seeded: TestClient) -> None:
    assert ok(seeded.get("/api/v1/tenants/nobody/usage"), 404)["error"]["code"] == "not_found"
