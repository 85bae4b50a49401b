"""The six calls every config entity answers: list, create, get, replace, patch, delete.

`entity_router` builds them for one kind, with the kind's body schema and the notes
that differ (what a create needs, what blocks a delete); a kind's own module adds its
extra calls (a service's targets, a consumer's API keys) to the router it returns.

This module evaluates its annotations when it runs (no `from __future__ import
annotations`): FastAPI reads the body schema from each endpoint's signature, and here
that schema is a variable of the factory.
"""

from dataclasses import dataclass

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from .auth import AdminRoute
from .deps import CatalogDep, EntityFilterDep, PaginationDep
from .entities import MergePatchBody, NameParam
from .errors import CONFLICT, INVALID, NOT_FOUND, UNAUTHORIZED
from .schemas import ItemPage, entity_response, page_response


@dataclass(frozen=True, slots=True)
class EntityDocs:
    """What the OpenAPI document says of one kind: its name and the rules that differ."""

    noun: str  # "service"
    plural: str  # "services"
    create: str  # what a new one needs
    delete: str  # what refuses a delete, or that nothing does


def entity_router(
    kind: str, spec: type[BaseModel], out: type[BaseModel], docs: EntityDocs
) -> APIRouter:
    """A router at `/{kind}` with the six entity calls, each behind the admin token."""
    noun, plural = docs.noun, docs.plural
    router = APIRouter(
        prefix=f"/{kind}", tags=[kind], route_class=AdminRoute, responses=UNAUTHORIZED
    )

    @router.get(
        "",
        name=f"list_{plural}",
        summary=f"List {plural}",
        response_model=ItemPage[out],  # type: ignore[valid-type]
        description=f"{plural.capitalize()} ordered by name, optionally filtered by name and tags.",
    )
    def list_entities(
        catalog: CatalogDep, page: PaginationDep, only: EntityFilterDep
    ) -> JSONResponse:
        return page_response(
            catalog.page(
                kind,
                limit=page.limit,
                offset=page.offset,
                name_contains=only.name_contains,
                tags=only.tags,
            )
        )

    @router.post(
        "",
        name=f"create_{noun}",
        status_code=201,
        summary=f"Create a {noun}",
        response_model=out,
        responses={**CONFLICT, **INVALID},
        description=docs.create,
    )
    def create_entity(catalog: CatalogDep, body: spec) -> JSONResponse:  # type: ignore[valid-type]
        return entity_response(catalog.create(kind, body), 201)

    @router.get(
        "/{name}",
        name=f"get_{noun}",
        summary=f"Get a {noun}",
        response_model=out,
        responses=NOT_FOUND,
    )
    def get_entity(catalog: CatalogDep, name: NameParam) -> JSONResponse:
        return entity_response(catalog.get(kind, name))

    @router.put(
        "/{name}",
        name=f"replace_{noun}",
        summary=f"Replace a {noun}",
        response_model=out,
        responses={**NOT_FOUND, **INVALID},
        description=f"The body replaces the whole {noun}; its `name` must be the one in the path.",
    )
    def replace_entity(catalog: CatalogDep, name: NameParam, body: spec) -> JSONResponse:  # type: ignore[valid-type]
        return entity_response(catalog.replace(kind, name, body))

    @router.patch(
        "/{name}",
        name=f"patch_{noun}",
        summary=f"Change part of a {noun}",
        response_model=out,
        responses={**NOT_FOUND, **INVALID},
        description="JSON merge patch: given fields replace, `null` resets to the default, "
        "lists are replaced.",
    )
    def patch_entity(catalog: CatalogDep, name: NameParam, body: MergePatchBody) -> JSONResponse:
        return entity_response(catalog.patch(kind, name, body))

    @router.delete(
        "/{name}",
        name=f"delete_{noun}",
        status_code=204,
        summary=f"Delete a {noun}",
        response_class=Response,
        responses={**NOT_FOUND, **CONFLICT},
        description=docs.delete,
    )
    def delete_entity(catalog: CatalogDep, name: NameParam) -> Response:
        catalog.delete(kind, name)
        return Response(status_code=204)

    return router
