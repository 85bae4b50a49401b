"""The `nodes` table and its queries: the node inventory as SQL keeps it, for every replica.

Only facts are stored (what the node said and when); its status (SYNCED, STALE,
NACKED, OFFLINE) is derived when read, against the latest release and the clock, so
no replica has to keep a status column up to date. The schema comes from
`migrations/versions/0002_nodes.py`
(the candidate columns: `0006_node_candidates.py`). The config-sync inventory writes through
`save_nodes` and `purge_nodes`; the admin API reads through `node_page`, capability
admission through `node_capabilities`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    String,
    Table,
    Text,
    bindparam,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from .models import Base

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
    # [{service, address, healthy, breaker}] of the node's last status report
    targets: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    candidate_version: Mapped[int | None] = mapped_column(BigInteger)
    candidate_hash: Mapped[str | None] = mapped_column(String(HASH_LENGTH))
    candidate_error: Mapped[str | None] = mapped_column(Text)
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime] = mapped_column(index=True)

    def __repr__(self) -> str:
        return f"<NodeRow {self.id} applied=v{self.applied_version} last_seen={self.last_seen}>"


# A node's row, unless a newer report (from the replica it moved to) is stored already.
_NODES = cast(Table, NodeRow.__table__)
_UPDATE_NODE = (
    update(_NODES)
    .where(_NODES.c.id == bindparam("node_id"), _NODES.c.last_seen <= bindparam("heard_at"))
    .values({c.name: bindparam(c.name) for c in _NODES.c if c.name != "id"})
)


def save_nodes(session: Session, rows: list[dict[str, Any]]) -> None:
    """Write each node's columns unless its stored row is newer; insert purged ones again.

    One UPDATE run for the whole batch (executemany): row by row through the ORM, 100
    ACKs took 60 ms of the event loop's process, in the way of the next push.
    """
    session.connection().execute(
        _UPDATE_NODE, [{**row, "node_id": row["id"], "heard_at": row["last_seen"]} for row in rows]
    )
    ids = [row["id"] for row in rows]
    present = set(session.scalars(select(NodeRow.id).where(NodeRow.id.in_(ids))))
    session.add_all(NodeRow(**row) for row in rows if row["id"] not in present)


def purge_nodes(session: Session, horizon: datetime) -> int:
    """Delete the nodes last heard before `horizon`; returns how many."""
    result = session.execute(
        delete(NodeRow)
        .where(NodeRow.last_seen < horizon)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def node_page(session: Session, *, offset: int, limit: int) -> tuple[list[NodeRow], int]:
    """One page of nodes ordered by id, and how many there are."""
    total = session.scalar(select(func.count()).select_from(NodeRow)) or 0
    rows = session.scalars(select(NodeRow).order_by(NodeRow.id).offset(offset).limit(limit))
    return list(rows), total


def node_capabilities(session: Session, heard_since: datetime) -> dict[str, frozenset[str]]:
    """Node id -> capabilities of every node heard from since `heard_since`."""
    rows = session.execute(
        select(NodeRow.id, NodeRow.capabilities).where(NodeRow.last_seen >= heard_since)
    )
    return {row.id: frozenset(row.capabilities or ()) for row in rows}


def fleet_figures(session: Session, heard_since: datetime) -> tuple[float, float, float | None]:
    """What the nodes heard from since `heard_since` last reported, summed for the fleet:
    requests per second, the 5xx share of them, and the slowest node's p99 (ms)."""
    rate = func.coalesce(NodeRow.request_rate, 0.0)
    total, errors, p99 = session.execute(
        select(
            func.coalesce(func.sum(rate), 0.0),
            func.coalesce(func.sum(rate * func.coalesce(NodeRow.error_rate, 0.0)), 0.0),
            func.max(NodeRow.p99_ms),
        ).where(NodeRow.last_seen >= heard_since)
    ).one()
    requests = float(total)
    return requests, (float(errors) / requests if requests > 0 else 0.0), p99


def candidate_nodes(session: Session, candidate_hash: str) -> list[NodeRow]:
    """The nodes serving, or having refused, the candidate of this hash, by id."""
    query = select(NodeRow).where(NodeRow.candidate_hash == candidate_hash).order_by(NodeRow.id)
    return list(session.scalars(query))
