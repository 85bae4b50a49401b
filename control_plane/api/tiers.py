"""`/api/v1/tiers`: plans: rate limits over several windows, a monthly quota, a concurrency cap."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from data_plane.config.model import TierSpec

from .auth import AdminRoute
from .deps import CatalogDep, EntityFilterDep, PaginationDep
from .entities import MergePatchBody, NameParam
from .errors import CONFLICT, INVALID, NOT_FOUND, UNAUTHORIZED
from .schemas import ItemPage, TierOut, entity_response, page_response

KIND = "tiers"

router = APIRouter(prefix="/tiers", tags=["tiers"], route_class=AdminRoute, responses=UNAUTHORIZED)


@router.get("", summary="List tiers", response_model=ItemPage[TierOut])
def list_tiers(catalog: CatalogDep, page: PaginationDep, only: EntityFilterDep) -> JSONResponse:
    """Tiers ordered by name, optionally filtered by name and tags."""
    return page_response(
        catalog.page(
            KIND,
            limit=page.limit,
            offset=page.offset,
            name_contains=only.name_contains,
            tags=only.tags,
        )
    )


@router.post(
    "",
    status_code=201,
    summary="Create a tier",
    response_model=TierOut,
    responses={**CONFLICT, **INVALID},
)
def create_tier(catalog: CatalogDep, body: TierSpec) -> JSONResponse:
    """Limits left out are unlimited."""
    return entity_response(catalog.create(KIND, body), 201)


@router.get("/{name}", summary="Get a tier", response_model=TierOut, responses=NOT_FOUND)
def get_tier(catalog: CatalogDep, name: NameParam) -> JSONResponse:
    return entity_response(catalog.get(KIND, name))


@router.put(
    "/{name}",
    summary="Replace a tier",
    response_model=TierOut,
    responses={**NOT_FOUND, **INVALID},
)
def replace_tier(catalog: CatalogDep, name: NameParam, body: TierSpec) -> JSONResponse:
    """The body replaces the whole tier; its `name` must be the one in the path."""
    return entity_response(catalog.replace(KIND, name, body))


@router.patch(
    "/{name}",
    summary="Change part of a tier",
    response_model=TierOut,
    responses={**NOT_FOUND, **INVALID},
)
def patch_tier(catalog: CatalogDep, name: NameParam, body: MergePatchBody) -> JSONResponse:
    """JSON merge patch: given fields replace, `null` resets to the default, lists are replaced."""
    return entity_response(catalog.patch(KIND, name, body))


@router.delete(
    "/{name}",
    status_code=204,
    summary="Delete a tier",
    response_class=Response,
    responses={**NOT_FOUND, **CONFLICT},
)
def delete_tier(catalog: CatalogDep, name: NameParam) -> Response:
    """Refused with 409 while tenants belong to the tier."""
    catalog.delete(KIND, name)
    return Response(status_code=204)
