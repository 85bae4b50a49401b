"""`/api/v1/tenants`: customers of the gateway, each on a tier."""

from __future__ import annotations

from data_plane.config.model import TenantSpec

from .crud import EntityDocs, entity_router
from .schemas import TenantOut

router = entity_router(
    "tenants",
    TenantSpec,
    TenantOut,
    EntityDocs(
        noun="tenant",
        plural="tenants",
        create="The tenant's `tier` must exist.",
        delete="Refused with 409 while consumers belong to the tenant.",
    ),
)
