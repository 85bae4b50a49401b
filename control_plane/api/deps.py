"""Dependencies of the admin API's handlers, as `Annotated` aliases."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Query, Request
from pydantic import Field
from sqlalchemy.orm import Session

from ..plane import ControlPlane
from ..store.catalog import Catalog
from ..store.models import TAG_LENGTH
from ..sync.admission import Admission
from .auth import admin
from .parameters import MAX_SQL_INTEGER, MAX_TAGS, SINGLE_LINE
from .release_header import note_change
from .request_id import request_id_of

MAX_LIMIT = 1000


def plane(request: Request) -> ControlPlane:
    running: ControlPlane = request.app.state.plane
    return running


PlaneDep = Annotated[ControlPlane, Depends(plane)]
AdminDep = Annotated[str, Depends(admin)]


def session(running: PlaneDep) -> Iterator[Session]:
    """A session for this request; what it did not commit is rolled back."""
    with running.db.session() as opened:
        yield opened


SessionDep = Annotated[Session, Depends(session)]


def catalog(request: Request, running: PlaneDep, opened: SessionDep, actor: AdminDep) -> Catalog:
    """The stored config for this request; a write's answer names the release it made."""
    return open_catalog(request, running, opened, actor)


def open_catalog(request: Request, running: ControlPlane, opened: Session, actor: str) -> Catalog:
    """The stored config for a request made by `actor` (the admin API's or the console's)."""
    # A write that commits nothing answers with the release holding the store as it is.
    note_change(request.scope, running.releases.changes)

    def committed(author: str) -> None:
        note_change(request.scope, running.releases.changed(author))

    return Catalog(
        opened,
        actor=actor,
        request_id=request_id_of(request.scope),
        on_commit=committed,
        admit=Admission(opened, running.settings.node_offline_after),
    )


CatalogDep = Annotated[Catalog, Depends(catalog)]


@dataclass(frozen=True, slots=True)
class Pagination:
    limit: int
    offset: int


def pagination(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="items per page")] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_SQL_INTEGER, description="items to skip")] = 0,
) -> Pagination:
    return Pagination(limit, offset)


PaginationDep = Annotated[Pagination, Depends(pagination)]


@dataclass(frozen=True, slots=True)
class EntityFilter:
    name_contains: str | None
    tags: list[str] = field(default_factory=list)


def entity_filter(
    name: Annotated[
        str | None,
        Query(max_length=128, pattern=SINGLE_LINE, description="only names containing this text"),
    ] = None,
    tag: Annotated[
        list[Annotated[str, Field(max_length=TAG_LENGTH, pattern=SINGLE_LINE)]],
        Query(
            max_length=MAX_TAGS, description="only entities holding this tag (repeat: all of them)"
        ),
    ] = [],  # noqa: B006 - FastAPI copies defaults per request
) -> EntityFilter:
    return EntityFilter(name, tag)


EntityFilterDep = Annotated[EntityFilter, Depends(entity_filter)]
