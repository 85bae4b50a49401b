"""The admin API's token as the store keeps it: only its sha256."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from .models import AdminTokenRow

ADMIN = "admin"


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def stored_sha256(session: Session, name: str = ADMIN) -> str | None:
    return session.scalar(select(AdminTokenRow.token_sha256).where(AdminTokenRow.name == name))


def store_sha256(session: Session, digest: str, name: str = ADMIN) -> None:
    """Keep `digest` as the token of `name`, replacing any earlier one; not committed."""
    row = session.get(AdminTokenRow, name)
    if row is None:
        session.add(AdminTokenRow(name=name, token_sha256=digest, created_at=datetime.now(UTC)))
    elif row.token_sha256 != digest:
        row.token_sha256 = digest
        row.created_at = datetime.now(UTC)
