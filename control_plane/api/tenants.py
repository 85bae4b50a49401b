"""`/api/v1/tenants`: customers of the gateway, each on a tier."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from data_plane.config.model import TenantSpec

from .auth import AdminRoute
from .deps import CatalogDep, EntityFilterDep, PaginationDep
from .entities import MergePatchBody, NameParam
from .errors import CONFLICT, INVALID, NOT_FOUND, UNAUTHORIZED
from .schemas import ItemPage, TenantOut, entity_response, page_response

KIND = "tenants"

router = APIRouter(
    prefix="/tenants", tags=["tenants"], route_class=AdminRoute, responses=UNAUTHORIZED
)


@router.get("", summary="List tenants", response_model=ItemPage[TenantOut])
def list_tenants(catalog: CatalogDep, page: PaginationDep, only: EntityFilterDep) -> JSONResponse:
    """Tenants ordered by name, optionally filtered by name and tags."""
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
    summary="Create a tenant",
    response_model=TenantOut,
    responses={**CONFLICT, **INVALID},
)
def create_tenant(catalog: CatalogDep, body: TenantSpec) -> JSONResponse:
    """The tenant's `tier` must exist."""
    return entity_response(catalog.create(KIND, body), 201)


@router.get("/{name}", summary="Get a tenant", response_model=TenantOut, responses=NOT_FOUND)
def get_tenant(catalog: CatalogDep, name: NameParam) -> JSONResponse:
    return entity_response(catalog.get(KIND, name))


@router.put(
    "/{name}",
    summary="Replace a tenant",
    response_model=TenantOut,
    responses={**NOT_FOUND, **INVALID},
)
def replace_tenant(catalog: CatalogDep, name: NameParam, body: TenantSpec) -> JSONResponse:
    """The body replaces the whole tenant; its `name` must be the one in the path."""
    return entity_response(catalog.replace(KIND, name, body))


@router.patch(
    "/{name}",
    summary="Change part of a tenant",
    response_model=TenantOut,
    responses={**NOT_FOUND, **INVALID},
)
def patch_tenant(catalog: CatalogDep, name: NameParam, body: MergePatchBody) -> JSONResponse:
    """JSON merge patch: given fields replace, `null` resets to the default, lists are replaced."""
    return entity_response(catalog.patch(KIND, name, body))


@router.delete(
    "/{name}",
    status_code=204,
    summary="Delete a tenant",
    response_class=Response,
    responses={**NOT_FOUND, **CONFLICT},
)
def delete_tenant(catalog: CatalogDep, name: NameParam) -> Response:
    """Refused with 409 while consumers belong to the tenant."""
    catalog.delete(KIND, name)
    return Response(status_code=204)
