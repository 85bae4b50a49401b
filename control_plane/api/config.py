"""`/api/v1/config`: the whole config at once, as `fleetgate export` and `apply` use it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from data_plane.config.model import GatewayConfig

from .auth import AdminRoute
from .deps import CatalogDep
from .errors import INVALID, UNAUTHORIZED
from .schemas import ApplyResult

router = APIRouter(
    prefix="/config", tags=["config"], route_class=AdminRoute, responses=UNAUTHORIZED
)


@router.get("", summary="Export the whole config", response_model=GatewayConfig)
def export_config(
    catalog: CatalogDep,
    include_secrets: Annotated[
        bool, Query(description="write certificate keys too (else their key_sha256 only)")
    ] = False,
) -> JSONResponse:
    """Every stored entity in the file shape: entities by name, defaults left out."""
    return JSONResponse(catalog.config().to_file_dict(secrets=include_secrets))


@router.put("", summary="Make the stored config equal to this one", responses=INVALID)
def apply_config(
    catalog: CatalogDep,
    body: GatewayConfig,
    dry_run: Annotated[bool, Query(description="report the diff, store nothing")] = False,
) -> ApplyResult:
    """All or nothing, in one transaction: entities missing from the body are deleted.

    Applying what is already stored changes nothing, so it makes no new release.
    """
    diff = catalog.apply(body, dry_run=dry_run)
    return ApplyResult(
        changed=not diff.empty, dry_run=dry_run, diff=diff, warnings=catalog.warnings
    )
