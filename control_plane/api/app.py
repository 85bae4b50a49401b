"""The admin API application: `/api/v1` (token required), `/health`, `/metrics`, the docs
and the web console."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from fastapi import APIRouter, FastAPI

from ..console import install_console
from ..plane import ControlPlane
from ..store.releases import latest, latest_version
from . import (
    audit,
    certificates,
    config,
    consumers,
    health,
    metrics,
    nodes,
    releases,
    rollouts,
    routes,
    services,
    tenants,
    tiers,
    usage,
)
from .errors import install_error_handlers
from .observed import AdminRequestObserver
from .release_header import ReleaseHeaderMiddleware
from .request_id import RequestIdMiddleware

DESCRIPTION = """\
The admin API of fleetgate's control plane. Services, routes, tiers, tenants and
consumers are addressed by name and use the same shape as `fleetgate apply -f` files.
Every committed change is checked like a node would check it, then becomes a new
release (debounced) that the config-sync service streams to data-plane nodes.

Every call under `/api/v1` needs `Authorization: Bearer <admin token>`. Errors always
answer `{"error": {"code", "message", "request_id"}}`.
"""

TAGS = [
    {"name": "services", "description": "Upstream pools and their targets."},
    {"name": "routes", "description": "Request matching, the service answering, policies."},
    {"name": "tiers", "description": "Plans: rate limits, quotas, concurrency caps."},
    {"name": "tenants", "description": "Customers, each on a tier."},
    {"name": "consumers", "description": "Callers with credentials and roles."},
    {"name": "certificates", "description": "TLS certificates the nodes serve, by SNI name."},
    {"name": "config", "description": "The whole config at once (`fleetgate apply/export`)."},
    {"name": "releases", "description": "Immutable, versioned snapshots sent to nodes."},
    {
        "name": "rollouts",
        "description": "Blue/green: a candidate config beside the active one, for the traffic "
        "a selector picks, promoted or rolled back (by hand or by a gate).",
    },
    {"name": "audit", "description": "Who changed what, when."},
    {"name": "nodes", "description": "Data-plane nodes and what config they serve."},
    {"name": "operations", "description": "Health and metrics; no token needed."},
]

ERROR_BODY = "#/components/schemas/ErrorBody"

ENTITY_ROUTERS = (
    services,
    routes,
    tiers,
    tenants,
    consumers,
    certificates,
    config,
    releases,
    rollouts,
    audit,
    nodes,
)


def _version() -> str:
    try:
        return version("fleetgate")
    except PackageNotFoundError:
        return "0+unknown"


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """The release maker and the console's fleet sampler run as long as the API does;
    pending changes are released at exit."""
    plane: ControlPlane = app.state.plane
    with plane.db.session() as session:
        plane.metrics.release_version.set(latest_version(session) or 0)
        release = latest(session)
    if release is not None:
        plane.metrics.observe_certificates(release)
    maker = asyncio.create_task(plane.releases.run(), name="release-maker")
    history = asyncio.create_task(app.state.fleet_history.run(plane), name="fleet-history")
    try:
        yield
    finally:
        for task in (history, maker):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await plane.releases.flush()


def _openapi(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """FastAPI's document, with the 422 answers described as what the API really sends.

    FastAPI documents its own validation error shape for every call that takes input;
    this API answers invalid input with the error body, like every other error.
    """
    generate = app.openapi

    def document() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = generate()
        for operations in schema["paths"].values():
            for operation in operations.values():
                invalid = operation.get("responses", {}).get("422")
                if invalid is None:
                    continue
                invalid["content"] = {"application/json": {"schema": {"$ref": ERROR_BODY}}}
                if invalid.get("description") == "Validation Error":
                    invalid["description"] = "The input is invalid"
        for unused in ("HTTPValidationError", "ValidationError"):
            schema["components"]["schemas"].pop(unused, None)
        return schema

    return document


def create_app(plane: ControlPlane) -> FastAPI:
    """The admin application; everything it serves comes from `app.state.plane`."""
    app = FastAPI(
        title="fleetgate control plane",
        version=_version(),
        description=DESCRIPTION,
        openapi_tags=TAGS,
        lifespan=lifespan,
        # One schema per entity: a write-only key would otherwise split a spec into
        # "-Input" and "-Output" schemas, though an answer is the input's shape.
        separate_input_output_schemas=False,
        # Served by the console with local files: FastAPI's own pages load from a CDN.
        docs_url=None,
        redoc_url=None,
    )
    app.state.plane = plane
    install_error_handlers(app)
    # Added last = outermost: the request id exists before anything else runs.
    app.add_middleware(ReleaseHeaderMiddleware)
    app.add_middleware(AdminRequestObserver)
    app.add_middleware(RequestIdMiddleware)

    app.include_router(health.router)
    app.include_router(metrics.router)
    api = APIRouter(prefix="/api/v1")
    for module in ENTITY_ROUTERS:
        api.include_router(module.router)
    api.include_router(usage.router)
    app.include_router(api)
    install_console(app)
    app.openapi = _openapi(app)  # type: ignore[method-assign]
    return app
