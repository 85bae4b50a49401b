"""The audit log: who changed which entity, when, and what it was before and after."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .models import AuditRow

ACTIONS = ("create", "replace", "patch", "delete", "apply", "start", "promote", "rollback")


def record(
    session: Session,
    *,
    at: datetime,
    actor: str,
    action: str,
    kind: str,
    name: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    request_id: str | None,
) -> None:
    assert action in ACTIONS, action
    session.add(
        AuditRow(
            at=at,
            actor=actor,
            action=action,
            kind=kind,
            name=name,
            before=before,
            after=after,
            request_id=request_id,
        )
    )


def last_actor(session: Session, after: datetime | None) -> str | None:
    """Who wrote the newest entry, when it was written after `after` (any time if None)."""
    newest = session.execute(
        select(AuditRow.actor, AuditRow.at).order_by(AuditRow.id.desc()).limit(1)
    ).first()
    if newest is None or (after is not None and newest.at <= after):
        return None
    return str(newest.actor)


def page(
    session: Session,
    *,
    kind: str | None = None,
    name: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[AuditRow], int]:
    """Entries newest first, optionally of one kind and name, with the total count."""
    query = select(AuditRow)
    if kind is not None:
        query = query.where(AuditRow.kind == kind)
    if name is not None:
        query = query.where(AuditRow.name == name)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(AuditRow.id.desc()).offset(offset).limit(limit))
    return list(rows), total
