"""`/api/v1/services`: upstream pools, and their targets one by one."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Response
from fastapi.responses import JSONResponse

from data_plane.config.model import ServiceSpec, TargetSpec

from ..errors import Conflict, FieldProblem, Invalid, NotFound
from .auth import AdminRoute
from .deps import CatalogDep, EntityFilterDep, PaginationDep
from .entities import MergePatchBody, NameParam
from .errors import CONFLICT, INVALID, NOT_FOUND, UNAUTHORIZED
from .schemas import ItemPage, ServiceOut, entity_response, page_response

KIND = "services"
AddressParam = Annotated[
    str, Path(description="the target's host:port", examples=["127.0.0.1:9001"])
]

router = APIRouter(
    prefix="/services", tags=["services"], route_class=AdminRoute, responses=UNAUTHORIZED
)


@router.get("", summary="List services", response_model=ItemPage[ServiceOut])
def list_services(catalog: CatalogDep, page: PaginationDep, only: EntityFilterDep) -> JSONResponse:
    """Services ordered by name, optionally filtered by name and tags."""
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
    summary="Create a service",
    response_model=ServiceOut,
    responses={**CONFLICT, **INVALID},
)
def create_service(catalog: CatalogDep, body: ServiceSpec) -> JSONResponse:
    """A service needs at least one target with a weight above 0."""
    return entity_response(catalog.create(KIND, body), 201)


@router.get("/{name}", summary="Get a service", response_model=ServiceOut, responses=NOT_FOUND)
def get_service(catalog: CatalogDep, name: NameParam) -> JSONResponse:
    return entity_response(catalog.get(KIND, name))


@router.put(
    "/{name}",
    summary="Replace a service",
    response_model=ServiceOut,
    responses={**NOT_FOUND, **INVALID},
)
def replace_service(catalog: CatalogDep, name: NameParam, body: ServiceSpec) -> JSONResponse:
    """The body replaces the whole service; its `name` must be the one in the path."""
    return entity_response(catalog.replace(KIND, name, body))


@router.patch(
    "/{name}",
    summary="Change part of a service",
    response_model=ServiceOut,
    responses={**NOT_FOUND, **INVALID},
)
def patch_service(catalog: CatalogDep, name: NameParam, body: MergePatchBody) -> JSONResponse:
    """JSON merge patch: given fields replace, `null` resets to the default, lists are replaced."""
    return entity_response(catalog.patch(KIND, name, body))


@router.delete(
    "/{name}",
    status_code=204,
    summary="Delete a service",
    response_class=Response,
    responses={**NOT_FOUND, **CONFLICT},
)
def delete_service(catalog: CatalogDep, name: NameParam) -> Response:
    """Refused with 409 while routes use the service."""
    catalog.delete(KIND, name)
    return Response(status_code=204)


# ---------------------------------------------------------------- targets


@router.get(
    "/{name}/targets",
    summary="List a service's targets",
    response_model=ItemPage[TargetSpec],
    responses=NOT_FOUND,
)
def list_targets(catalog: CatalogDep, name: NameParam) -> dict[str, Any]:
    targets = catalog.get(KIND, name).body.get("targets", [])
    return {
        "items": [TargetSpec.model_validate(t).model_dump() for t in targets],
        "total": len(targets),
    }


@router.post(
    "/{name}/targets",
    status_code=201,
    summary="Add a target to a service",
    response_model=TargetSpec,
    responses={**NOT_FOUND, **CONFLICT, **INVALID},
)
def add_target(catalog: CatalogDep, name: NameParam, body: TargetSpec) -> TargetSpec:
    def add(service: dict[str, Any]) -> dict[str, Any]:
        targets = service.get("targets", [])
        if any(t["address"] == body.address for t in targets):
            raise Conflict(f"service {name!r} already has target {body.address}")
        return {**service, "targets": [*targets, body.model_dump()]}

    catalog.update(KIND, name, add)
    return body


@router.put(
    "/{name}/targets/{address}",
    summary="Replace a target of a service",
    response_model=TargetSpec,
    responses={**NOT_FOUND, **INVALID},
)
def replace_target(
    catalog: CatalogDep, name: NameParam, address: AddressParam, body: TargetSpec
) -> TargetSpec:
    """Typically to change its weight (0 drains it); the body's address must be the path's."""
    if body.address != address:
        raise Invalid.of([FieldProblem("address", f"must be {address!r}, the one in the path")])

    def replace(service: dict[str, Any]) -> dict[str, Any]:
        targets = service.get("targets", [])
        if not any(t["address"] == address for t in targets):
            raise NotFound(f"service {name!r} has no target {address}")
        changed = [body.model_dump() if t["address"] == address else t for t in targets]
        return {**service, "targets": changed}

    catalog.update(KIND, name, replace)
    return body


@router.delete(
    "/{name}/targets/{address}",
    status_code=204,
    summary="Remove a target from a service",
    response_class=Response,
    responses={**NOT_FOUND, **INVALID},
)
def remove_target(catalog: CatalogDep, name: NameParam, address: AddressParam) -> Response:
    """Refused with 422 when it is the service's last target."""

    def remove(service: dict[str, Any]) -> dict[str, Any]:
        targets = service.get("targets", [])
        if not any(t["address"] == address for t in targets):
            raise NotFound(f"service {name!r} has no target {address}")
        return {**service, "targets": [t for t in targets if t["address"] != address]}

    catalog.update(KIND, name, remove)
    return Response(status_code=204)
