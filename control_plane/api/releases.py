"""`/api/v1/releases`: the immutable snapshots nodes receive, and what changed between two.

A release reads in the file shape, with its version, hash, creation time and author
beside the entity kinds, so `fleetgate export --release N` can write it to be applied
again; `/releases/N/snapshot` gives the snapshot nodes receive, in protobuf's JSON
mapping. Diffs compare releases in the file shape too.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse
from google.protobuf import json_format
from sqlalchemy.orm import Session

from data_plane.config.certificates import key_sha256
from data_plane.config.model import ENTITY_KINDS, dump_entity
from data_plane.config.snapshot_config import snapshot_config

from ..diff import ConfigDiff, diff_entities
from ..errors import NotFound
from ..store import releases
from ..store.releases import Release
from .auth import AdminRoute
from .deps import AdminDep, PaginationDep, SessionDep
from .errors import NOT_FOUND, UNAUTHORIZED
from .parameters import MAX_SQL_INTEGER
from .schemas import ItemPage, ReleaseDetail, ReleaseOut, ReleaseSnapshot

router = APIRouter(
    prefix="/releases", tags=["releases"], route_class=AdminRoute, responses=UNAUTHORIZED
)

VersionParam = Annotated[
    int, Path(ge=1, le=MAX_SQL_INTEGER, description="a release version", examples=[42])
]


def _release(session: Session, version: int) -> Release:
    release = releases.get(session, version)
    if release is None:
        raise NotFound(f"no release {version}")
    return release


IncludeSecrets = Annotated[
    bool, Query(description="write certificate keys too (else their key_sha256 only)")
]


def release_file_shape(release: Release, *, secrets: bool = False) -> dict[str, Any]:
    """The release as `GET /releases/N` answers it: metadata, then the config's kinds."""
    return {
        "version": release.version,
        "hash": release.hash,
        "created_at": release.created_at.isoformat(),
        "author": release.author,
        **snapshot_config(release.message()).to_file_dict(secrets=secrets),
    }


def release_entities(release: Release) -> dict[str, dict[str, dict[str, Any]]]:
    config = snapshot_config(release.message())
    return {
        kind: {entity.name: dump_entity(entity) for entity in getattr(config, kind)}
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


@router.get(
    "/latest", summary="Get the latest release", response_model=ReleaseDetail, responses=NOT_FOUND
)
def latest_release(session: SessionDep, _admin: AdminDep) -> JSONResponse:
    """404 while the store has never held any config."""
    release = releases.latest(session)
    if release is None:
        raise NotFound("no release yet: the store has never held any config")
    return JSONResponse(release_file_shape(release))


@router.get(
    "/{version}", summary="Get a release", response_model=ReleaseDetail, responses=NOT_FOUND
)
def get_release(
    session: SessionDep,
    _admin: AdminDep,
    version: VersionParam,
    include_secrets: IncludeSecrets = False,
) -> JSONResponse:
    """The config of the release in the file shape (defaults left out, as `export` writes
    it), with its version, hash, creation time and author."""
    return JSONResponse(release_file_shape(_release(session, version), secrets=include_secrets))


@router.get("/{version}/snapshot", summary="Get a release's snapshot", responses=NOT_FOUND)
def get_release_snapshot(
    session: SessionDep, _admin: AdminDep, version: VersionParam
) -> ReleaseSnapshot:
    """The snapshot nodes receive, in protobuf's JSON mapping; keys (certificates', a
    service's tls client key) are replaced by their sha256."""
    release = _release(session, version)
    snapshot = release.message()
    shown = json_format.MessageToDict(snapshot, preserving_proto_field_name=True)
    for certificate, message in zip(
        shown.get("certificates", []), snapshot.certificates, strict=True
    ):
        certificate.pop("key", None)
        certificate["key_sha256"] = key_sha256(message.key)
    for service, service_message in zip(shown.get("services", []), snapshot.services, strict=True):
        tls = service.get("tls", {})
        if tls.pop("client_key", None) is not None:
            tls["client_key_sha256"] = key_sha256(service_message.tls.client_key)
    return ReleaseSnapshot(
        version=release.version,
        hash=release.hash,
        created_at=release.created_at,
        author=release.author,
        snapshot=shown,
    )


@router.get("/{a}/diff/{b}", summary="Compare two releases", responses=NOT_FOUND)
def diff_releases(
    session: SessionDep, _admin: AdminDep, a: VersionParam, b: VersionParam
) -> ConfigDiff:
    """What going from release `a` to release `b` adds, removes and changes, per kind, in
    the file shape."""
    return diff_entities(
        release_entities(_release(session, a)), release_entities(_release(session, b))
    )
