"""The `nodes` table: the node inventory as SQL keeps it, shared by every replica.

Only facts are stored (what the node said and when); its status (SYNCED, STALE,
NACKED, OFFLINE) is derived when read, against the latest release and the clock, so
no replica has to keep a status column up to date. The schema comes from
`migrations/versions/0002_nodes.py`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from control_plane.store.models import Base

NODE_ID_LENGTH = 128
HASH_LENGTH = 64


class NodeRow(Base):
    """One data-plane node, as last heard by any control-plane replica."""

    __tablename__ = "nodes"

    id: Mapped[str] = mapped_column(String(NODE_ID_LENGTH), primary_key=True)
    labels: Mapped[dict[str, Any]]
    address: Mapped[str] = mapped_column(String(300))  # the node's proxy listen address
    peer: Mapped[str] = mapped_column(String(300))  # where its stream came from
    software_version: Mapped[str] = mapped_column(String(64))
    schema_version: Mapped[int]
    capabilities: Mapped[list[str]] = mapped_column(JSON)
    applied_version: Mapped[int | None] = mapped_column(BigInteger)
    applied_hash: Mapped[str | None] = mapped_column(String(HASH_LENGTH))
    apply_seconds: Mapped[float | None]
    rejected_version: Mapped[int | None] = mapped_column(BigInteger)
    rejected_hash: Mapped[str | None] = mapped_column(String(HASH_LENGTH))
    last_error: Mapped[str | None] = mapped_column(Text)
    request_rate: Mapped[float | None]
    error_rate: Mapped[float | None]
    p50_ms: Mapped[float | None]
    p99_ms: Mapped[float | None]
    open_connections: Mapped[int | None] = mapped_column(BigInteger)
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime] = mapped_column(index=True)

    def __repr__(self) -> str:
        return f"<NodeRow {self.id} applied=v{self.applied_version} last_seen={self.last_seen}>"
