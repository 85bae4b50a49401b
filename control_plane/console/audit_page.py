"""The console's audit log: who changed what and when, filterable by kind and name."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from ..api.deps import SessionDep
from ..api.parameters import SINGLE_LINE
from ..store import audit
from .release_pages import as_yaml
from .web import SignedIn, render

router = APIRouter(prefix="/console/audit", include_in_schema=False)

PAGE_SIZE = 25
KINDS = ("services", "routes", "tiers", "tenants", "consumers")
KindFilter = Annotated[Literal["", "services", "routes", "tiers", "tenants", "consumers"], Query()]
NameFilter = Annotated[str, Query(max_length=128, pattern=SINGLE_LINE)]
PageParam = Annotated[int, Query(ge=1, le=1_000_000)]


@router.get("", response_class=HTMLResponse)
def audit_log(
    request: Request,
    signed: SignedIn,
    session: SessionDep,
    kind: KindFilter = "",
    name: NameFilter = "",
    page: PageParam = 1,
) -> HTMLResponse:
    rows, total = audit.page(
        session,
        kind=kind or None,
        name=name or None,
        limit=PAGE_SIZE,
        offset=(page - 1) * PAGE_SIZE,
    )
    entries = [
        {
            "row": row,
            "before": as_yaml(row.before) if row.before is not None else None,
            "after": as_yaml(row.after) if row.after is not None else None,
        }
        for row in rows
    ]
    return render(
        request,
        "audit.html",
        signed,
        active="/console/audit",
        entries=entries,
        total=total,
        kinds=KINDS,
        kind=kind,
        name=name,
        page=page,
        pages=max(1, -(-total // PAGE_SIZE)),
    )
