"""The `rollouts` table and its queries: one row per blue/green rollout, running or ended.

A rollout holds its candidate as the serialized Snapshot nodes receive (built once, at
start, with the version the candidate will have as a release), the selector and gate
as the admin API took them, and the figures summed from node reports. At most one row
is `running`: rollouts start under the config lock, which also serializes every write
that a running rollout refuses. The schema comes from `migrations/versions/0003_rollouts.py`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Integer, LargeBinary, String, Text, func, select
from sqlalchemy.orm import Mapped, Session, defer, mapped_column

from .models import NAME_LENGTH, Base

RUNNING = "running"
PROMOTED = "promoted"
ROLLED_BACK = "rolled_back"
STATES = (RUNNING, PROMOTED, ROLLED_BACK)


class RolloutRow(Base):
    """One rollout: its candidate, how traffic is picked for it, and how it ended."""

    __tablename__ = "rollouts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    state: Mapped[str] = mapped_column(String(16), index=True)
    active_version: Mapped[int] = mapped_column(BigInteger)
    candidate_version: Mapped[int] = mapped_column(BigInteger)
    candidate_hash: Mapped[str] = mapped_column(String(64))
    candidate: Mapped[bytes] = mapped_column(LargeBinary)  # a serialized fleetgate.v1.Snapshot
    source: Mapped[dict[str, Any]]  # {"release": N} or {"config": "document"}
    selector: Mapped[dict[str, Any]]
    gate: Mapped[dict[str, Any] | None]
    figures: Mapped[dict[str, Any]]
    started_at: Mapped[datetime]
    started_by: Mapped[str] = mapped_column(String(NAME_LENGTH))
    ended_at: Mapped[datetime | None]
    ended_by: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    reason: Mapped[str | None] = mapped_column(Text)

    def __repr__(self) -> str:
        return (
            f"<RolloutRow {self.id} {self.state} v{self.active_version}"
            f" -> v{self.candidate_version}>"
        )


def running(session: Session) -> RolloutRow | None:
    """The rollout that runs now, if any."""
    return session.scalars(select(RolloutRow).where(RolloutRow.state == RUNNING).limit(1)).first()


def latest(session: Session) -> RolloutRow | None:
    """The running rollout, else the one that started last."""
    return session.scalars(select(RolloutRow).order_by(RolloutRow.id.desc()).limit(1)).first()


def page(session: Session, *, limit: int = 100, offset: int = 0) -> tuple[list[RolloutRow], int]:
    """Rollouts newest first, without their candidate bytes, with the total count."""
    total = session.scalar(select(func.count()).select_from(RolloutRow)) or 0
    query = (
        select(RolloutRow)
        .options(defer(RolloutRow.candidate))
        .order_by(RolloutRow.id.desc())
        .offset(offset)
        .limit(limit)
    )
    return list(session.scalars(query)), total
