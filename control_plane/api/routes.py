"""`/api/v1/routes`: how requests are matched, and the service that answers them."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from data_plane.config.model import RouteSpec

from .auth import AdminRoute
from .deps import CatalogDep, EntityFilterDep, PaginationDep
from .entities import MergePatchBody, NameParam
from .errors import CONFLICT, INVALID, NOT_FOUND, UNAUTHORIZED
from .schemas import ItemPage, RouteOut, entity_response, page_response

KIND = "routes"

router = APIRouter(
    prefix="/routes", tags=["routes"], route_class=AdminRoute, responses=UNAUTHORIZED
)


@router.get("", summary="List routes", response_model=ItemPage[RouteOut])
def list_routes(catalog: CatalogDep, page: PaginationDep, only: EntityFilterDep) -> JSONResponse:
    """Routes ordered by name, optionally filtered by name and tags."""
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
    summary="Create a route",
    response_model=RouteOut,
    responses={**CONFLICT, **INVALID},
)
def create_route(catalog: CatalogDep, body: RouteSpec) -> JSONResponse:
    """The route's `service` must exist.

    No other route may match the same hosts, paths, methods and headers at the same priority.
    """
    return entity_response(catalog.create(KIND, body), 201)


@router.get("/{name}", summary="Get a route", response_model=RouteOut, responses=NOT_FOUND)
def get_route(catalog: CatalogDep, name: NameParam) -> JSONResponse:
    return entity_response(catalog.get(KIND, name))


@router.put(
    "/{name}",
    summary="Replace a route",
    response_model=RouteOut,
    responses={**NOT_FOUND, **INVALID},
)
def replace_route(catalog: CatalogDep, name: NameParam, body: RouteSpec) -> JSONResponse:
    """The body replaces the whole route; its `name` must be the one in the path."""
    return entity_response(catalog.replace(KIND, name, body))


@router.patch(
    "/{name}",
    summary="Change part of a route",
    response_model=RouteOut,
    responses={**NOT_FOUND, **INVALID},
)
def patch_route(catalog: CatalogDep, name: NameParam, body: MergePatchBody) -> JSONResponse:
    """JSON merge patch: given fields replace, `null` resets to the default, lists are replaced."""
    return entity_response(catalog.patch(KIND, name, body))


@router.delete(
    "/{name}",
    status_code=204,
    summary="Delete a route",
    response_class=Response,
    responses={**NOT_FOUND, **CONFLICT},
)
def delete_route(catalog: CatalogDep, name: NameParam) -> Response:
    """Nothing refers to a route: deleting one always succeeds."""
    catalog.delete(KIND, name)
    return Response(status_code=204)
