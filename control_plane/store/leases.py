"""The `leases` table: which control-plane replica holds a named duty, until when.

A replica that holds a lease renews it well before it expires; another takes it over
only once it has expired, so two replicas never both hold it (the row is read for
update, and PostgreSQL or SQLite serializes the two writers). The rollout gate is the
first duty decided this way. The schema comes from `migrations/versions/0007_leases.py`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import String
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from .models import NAME_LENGTH, Base


class LeaseRow(Base):
    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(NAME_LENGTH), primary_key=True)
    holder: Mapped[str] = mapped_column(String(NAME_LENGTH))
    expires_at: Mapped[datetime]

    def __repr__(self) -> str:
        return f"<LeaseRow {self.name} held by {self.holder} until {self.expires_at}>"


def acquire(session: Session, name: str, holder: str, now: datetime, ttl: float) -> bool:
    """Take or renew lease `name` for `holder` until `now + ttl`; False when another
    replica holds it. Commits."""
    until = now + timedelta(seconds=ttl)
    row = session.get(LeaseRow, name, with_for_update=True)
    if row is None:
        session.add(LeaseRow(name=name, holder=holder, expires_at=until))
    elif row.holder == holder or row.expires_at <= now:
        row.holder, row.expires_at = holder, until
    else:
        session.rollback()
        return False
    try:
        session.commit()
    except IntegrityError:  # another replica inserted it first
        session.rollback()
        return False
    return True
