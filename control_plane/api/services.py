"""`/api/v1/services`: upstream pools, and their targets one by one."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Response

from data_plane.config.model import ServiceSpec, TargetSpec
from data_plane.config.syntax import MAX_ADDRESS

from ..errors import Conflict, FieldProblem, Invalid, NotFound
from .crud import EntityDocs, entity_router
from .deps import CatalogDep
from .entities import NameParam
from .errors import CONFLICT, INVALID, NOT_FOUND
from .parameters import SINGLE_LINE
from .schemas import ItemPage, ServiceOut

KIND = "services"
AddressParam = Annotated[
    str,
    Path(
        max_length=MAX_ADDRESS,
        pattern=SINGLE_LINE,
        description="the target's host:port",
        examples=["127.0.0.1:9001"],
    ),
]

router = entity_router(
    KIND,
    ServiceSpec,
    ServiceOut,
    EntityDocs(
        noun="service",
        plural="services",
        create="A service needs at least one target with a weight above 0.",
        delete="Refused with 409 while routes use the service.",
    ),
)


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
