"""Console pages of releases: the list, one release in the file shape, the diff of any two."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Annotated, Any

import yaml
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from data_plane.config.model import ENTITY_KINDS

from ..api.deps import SessionDep
from ..api.parameters import MAX_SQL_INTEGER
from ..api.releases import VersionParam, release_entities, release_file_shape
from ..diff import diff_entities
from ..store import releases
from .web import SignedIn, render

router = APIRouter(prefix="/console/releases", include_in_schema=False)

PAGE_SIZE = 20
OptionalVersion = Annotated[int | None, Query(ge=1, le=MAX_SQL_INTEGER)]
PageParam = Annotated[int, Query(ge=1, le=1_000_000)]


def as_yaml(value: Any) -> str:
    return str(yaml.safe_dump(value, sort_keys=False, default_flow_style=False))


@dataclass(frozen=True, slots=True)
class EntityChange:
    """One entity of a diff: its kind and name, how it changed, and the lines of YAML
    with a mark each (`+` added, `-` removed, ` ` kept, `@` a hunk's header)."""

    kind: str
    name: str
    change: str  # added | removed | changed
    lines: list[tuple[str, str]]


def _marked(before: dict[str, Any] | None, after: dict[str, Any] | None) -> list[tuple[str, str]]:
    old = as_yaml(before).splitlines() if before is not None else []
    new = as_yaml(after).splitlines() if after is not None else []
    if before is None or after is None:
        mark = "+" if before is None else "-"
        return [(mark, line) for line in (new or old)]
    marked = []
    for line in list(difflib.unified_diff(old, new, lineterm="", n=3))[2:]:
        if line.startswith("@@"):
            marked.append(("@", line))
        else:
            marked.append((line[:1] or " ", line[1:]))
    return marked


def entity_changes(a: dict[str, Any], b: dict[str, Any]) -> list[EntityChange]:
    """What going from the entities `a` to `b` adds, removes and changes, as YAML lines."""
    diff = diff_entities(a, b)
    changes = []
    for kind in ENTITY_KINDS:
        of = diff.of(kind)
        changes += [EntityChange(kind, e["name"], "added", _marked(None, e)) for e in of.added]
        changes += [EntityChange(kind, e["name"], "removed", _marked(e, None)) for e in of.removed]
        changes += [
            EntityChange(kind, c.name, "changed", _marked(c.before, c.after)) for c in of.changed
        ]
    return changes


@router.get("", response_class=HTMLResponse)
def release_list(
    request: Request, signed: SignedIn, session: SessionDep, page: PageParam = 1
) -> HTMLResponse:
    rows, total = releases.page(session, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    return render(
        request,
        "release_list.html",
        signed,
        active="/console/releases",
        rows=rows,
        total=total,
        page=page,
        pages=max(1, -(-total // PAGE_SIZE)),
    )


@router.get("/diff", response_class=HTMLResponse)
def release_diff(
    request: Request,
    signed: SignedIn,
    session: SessionDep,
    a: OptionalVersion = None,
    b: OptionalVersion = None,
) -> HTMLResponse:
    chosen = {v: releases.get(session, v) for v in (a, b) if v is not None}
    missing = [v for v, release in chosen.items() if release is None]
    old, new = chosen.get(a or 0), chosen.get(b or 0)
    changes = None
    if old is not None and new is not None:
        changes = entity_changes(release_entities(old), release_entities(new))
    return render(
        request,
        "release_diff.html",
        signed,
        404 if missing else 200,
        active="/console/releases",
        a=a,
        b=b,
        missing=missing,
        changes=changes,
    )


@router.get("/{version}", response_class=HTMLResponse)
def release_view(
    request: Request, signed: SignedIn, session: SessionDep, version: VersionParam
) -> HTMLResponse:
    release = releases.get(session, version)
    if release is None:
        return render(request, "not_found.html", signed, 404, message=f"no release {version}")
    return render(
        request,
        "release_view.html",
        signed,
        active="/console/releases",
        release=release,
        document=as_yaml(release_file_shape(release)),
    )
