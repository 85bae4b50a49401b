"""`/api/v1/audit`: who changed what and when, newest first."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from ..store import audit
from .auth import AdminRoute
from .deps import AdminDep, PaginationDep, SessionDep
from .errors import UNAUTHORIZED
from .parameters import SINGLE_LINE
from .schemas import AuditOut, ItemPage

router = APIRouter(prefix="/audit", tags=["audit"], route_class=AdminRoute, responses=UNAUTHORIZED)

Kind = Literal["services", "routes", "tiers", "tenants", "consumers", "certificates", "rollouts"]


@router.get("", summary="Read the audit log")
def read_audit(
    session: SessionDep,
    _admin: AdminDep,
    page: PaginationDep,
    kind: Annotated[Kind | None, Query(description="only entries about this kind")] = None,
    name: Annotated[
        str | None,
        Query(
            max_length=128, pattern=SINGLE_LINE, description="only entries about this entity name"
        ),
    ] = None,
) -> ItemPage[AuditOut]:
    """Each change: who (the token's actor), when, the action, and the entity before and after."""
    rows, total = audit.page(session, kind=kind, name=name, limit=page.limit, offset=page.offset)
    return ItemPage[AuditOut](
        items=[AuditOut.model_validate(row, from_attributes=True) for row in rows], total=total
    )
