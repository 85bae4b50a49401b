"""`/api/v1/routes`: how requests are matched, and the service that answers them."""

from __future__ import annotations

from data_plane.config.model import RouteSpec

from .crud import EntityDocs, entity_router
from .schemas import RouteOut

router = entity_router(
    "routes",
    RouteSpec,
    RouteOut,
    EntityDocs(
        noun="route",
        plural="routes",
        create="The route's `service` must exist.\n\nNo other route may match the same hosts, "
        "paths, methods and headers at the same priority.",
        delete="Nothing refers to a route: deleting one always succeeds.",
    ),
)
