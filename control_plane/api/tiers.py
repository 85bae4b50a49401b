"""`/api/v1/tiers`: plans: rate limits over several windows, a monthly quota, a concurrency cap."""

from __future__ import annotations

from data_plane.config.model import TierSpec

from .crud import EntityDocs, entity_router
from .schemas import TierOut

router = entity_router(
    "tiers",
    TierSpec,
    TierOut,
    EntityDocs(
        noun="tier",
        plural="tiers",
        create="Limits left out are unlimited.",
        delete="Refused with 409 while tenants belong to the tier.",
    ),
)
