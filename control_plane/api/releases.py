"""`/api/v1/releases`: the immutable snapshots nodes receive, and what changed between two."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from google.protobuf import json_format
from sqlalchemy.orm import Session

from data_plane.config.model import ENTITY_KINDS

from ..diff import ConfigDiff, diff_entities
from ..errors import NotFound
from ..store import releases
from ..store.releases import Release
from .auth import AdminRoute
from .deps import AdminDep, PaginationDep, SessionDep
from .errors import NOT_FOUND, UNAUTHORIZED
from .schemas import ItemPage, ReleaseDetail, ReleaseOut

router = APIRouter(
    prefix="/releases", tags=["releases"], route_class=AdminRoute, responses=UNAUTHORIZED
)

VersionParam = Annotated[int, Path(ge=1, description="a release version", examples=[42])]


def _release(session: Session, version: int) -> Release:
    release = releases.get(session, version)
    if release is None:
        raise NotFound(f"no release {version}")
    return release


def _detail(release: Release) -> ReleaseDetail:
    return ReleaseDetail(
        version=release.version,
        hash=release.hash,
        created_at=release.created_at,
        author=release.author,
        snapshot=json_format.MessageToDict(release.message(), preserving_proto_field_name=True),
    )


def _entities(release: Release) -> dict[str, dict[str, dict[str, Any]]]:
    snapshot = release.message()
    return {
        kind: {
            entity.name: json_format.MessageToDict(entity, preserving_proto_field_name=True)
            for entity in getattr(snapshot, kind)
        }
        for kind in ENTITY_KINDS
    }


@router.get("", summary="List releases")
def list_releases(
    session: SessionDep, _admin: AdminDep, page: PaginationDep
) -> ItemPage[ReleaseOut]:
    """Newest first."""
    rows, total = releases.page(session, limit=page.limit, offset=page.offset)
    return ItemPage[ReleaseOut](
        items=[ReleaseOut.model_validate(row, from_attributes=True) for row in rows], total=total
    )


@router.get("/latest", summary="Get the latest release", responses=NOT_FOUND)
def latest_release(session: SessionDep, _admin: AdminDep) -> ReleaseDetail:
    """404 while the store has never held any config."""
    release = releases.latest(session)
    if release is None:
        raise NotFound("no release yet: the store has never held any config")
    return _detail(release)


@router.get("/{version}", summary="Get a release", responses=NOT_FOUND)
def get_release(session: SessionDep, _admin: AdminDep, version: VersionParam) -> ReleaseDetail:
    """The snapshot as JSON, with its version, hash, creation time and author."""
    return _detail(_release(session, version))


@router.get("/{a}/diff/{b}", summary="Compare two releases", responses=NOT_FOUND)
def diff_releases(
    session: SessionDep, _admin: AdminDep, a: VersionParam, b: VersionParam
) -> ConfigDiff:
    """What going from release `a` to release `b` adds, removes and changes, per kind."""
    return diff_entities(_entities(_release(session, a)), _entities(_release(session, b)))
