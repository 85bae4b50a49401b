"""`/api/v1/tenants/{name}/usage`: what a tenant used of its tier's monthly quota.

Nodes count a quota on Redis when the route's rate limit has `backend: redis` (one
counter per tenant and UTC month, `fleetgate:{tenant|NAME}:quota:YYYY-MM`), and per node,
in memory, otherwise. The control plane reads the Redis counter when it has a Redis of
its own (`FLEETGATE_REDIS_URL`, the nodes' one); per-node counts are not gathered here.
"""

from __future__ import annotations

import time
from typing import Literal

import redis
from fastapi import APIRouter
from pydantic import BaseModel

from data_plane.limits.redis_backend import quota_key

from ..errors import Unavailable
from .auth import AdminRoute
from .deps import CatalogDep, PlaneDep
from .entities import NameParam
from .errors import NOT_FOUND, UNAUTHORIZED

router = APIRouter(prefix="/tenants", tags=["tenants"], route_class=AdminRoute)
REDIS_TIMEOUT = 2.0


class TenantUsage(BaseModel):
    tenant: str
    tier: str
    month: str  # "2026-12", UTC
    monthly_quota: int | None  # None: the tier has none
    used: int | None  # None: not counted where the control plane can read it
    remaining: int | None
    counted_in: Literal["redis", "nodes"]


@router.get(
    "/{name}/usage",
    name="get_tenant_usage",
    summary="A tenant's use of its monthly quota",
    response_model=TenantUsage,
    responses={**NOT_FOUND, **UNAUTHORIZED},
    description=(
        "The tenant's tier, this UTC month, its quota and, when the control plane has the"
        " nodes' Redis (FLEETGATE_REDIS_URL), what the tenant used of it on routes whose"
        " rate limit counts on Redis. Without Redis, quotas are counted per node in memory"
        " and `used` is null."
    ),
)
def tenant_usage(catalog: CatalogDep, running: PlaneDep, name: NameParam) -> TenantUsage:
    tenant = catalog.get("tenants", name).full
    tier = catalog.get("tiers", tenant["tier"]).full
    quota: int | None = tier.get("monthly_quota")
    month = time.strftime("%Y-%m", time.gmtime())
    settings = running.settings
    if settings.redis_url is None:
        return TenantUsage(
            tenant=name,
            tier=tier["name"],
            month=month,
            monthly_quota=quota,
            used=None,
            remaining=None,
            counted_in="nodes",
        )
    client = redis.Redis.from_url(
        settings.redis_url, socket_timeout=REDIS_TIMEOUT, socket_connect_timeout=REDIS_TIMEOUT
    )
    try:
        held = client.get(quota_key(settings.redis_key_prefix, name, month))
    except redis.RedisError as exc:
        raise Unavailable(f"the rate limits' Redis cannot be read: {exc}") from exc
    finally:
        client.close()
    used = int(held) if isinstance(held, bytes | str | int) else 0
    return TenantUsage(
        tenant=name,
        tier=tier["name"],
        month=month,
        monthly_quota=quota,
        used=used,
        remaining=None if quota is None else max(0, quota - used),
        counted_in="redis",
    )
