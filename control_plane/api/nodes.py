"""`/api/v1/nodes`: the data-plane nodes config sync knows of, with their derived status.

Any replica answers for every node: the inventory is in SQL. A node's status is
derived at read time from what it last said, the latest release and the clock:
SYNCED (holds the latest release), STALE (holds an older one, or none), NACKED
(rejected the latest), OFFLINE (silent longer than `--node-offline-after`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field

from data_plane.sync.contract import SnapshotRef

from ..errors import NotFound
from ..store.nodes import NodeRow, node_page
from ..store.releases import latest_ref
from ..sync.inventory import NodeStatusName, node_status, utcnow
from .auth import AdminRoute
from .deps import AdminDep, PaginationDep, PlaneDep, SessionDep
from .errors import NOT_FOUND, UNAUTHORIZED
from .parameters import NODE_ID_PATTERN
from .schemas import ItemPage

router = APIRouter(prefix="/nodes", tags=["nodes"], route_class=AdminRoute, responses=UNAUTHORIZED)

EXAMPLE: dict[str, Any] = {
    "id": "gw-eu-1-3f9a2c1d",
    "labels": {"group": "green", "zone": "eu-1"},
    "address": "0.0.0.0:8080",
    "software_version": "0.1.0",
    "capabilities": ["service.circuit_breaker", "service.health_check"],
    "status": "SYNCED",
    "applied_version": 42,
    "applied_hash": "3b1f0c" + "0" * 58,
    "active_version": 42,
    "candidate_version": 43,
    "candidate_error": None,
    "apply_seconds": 0.012,
    "rejected_version": None,
    "last_error": None,
    "request_rate": 1250.0,
    "error_rate": 0.001,
    "p50_ms": 1.2,
    "p99_ms": 8.5,
    "open_connections": 64,
    "targets": [
        {"service": "users", "address": "10.0.0.7:9001", "healthy": True, "breaker": "closed"},
        {"service": "users", "address": "10.0.0.8:9001", "healthy": False, "breaker": "open"},
    ],
    "first_seen": "2026-01-01T12:00:00+00:00",
    "last_seen": "2026-01-01T12:30:05+00:00",
}


class TargetOut(BaseModel):
    """A target of a service with a health check or a circuit breaker, as the node sees it."""

    service: str
    address: str
    healthy: bool = Field(description="passes its active health checks (true when unchecked)")
    breaker: Literal["closed", "open", "half_open"] | None = Field(
        description="its circuit breaker's state, the worst of the node's workers; null "
        "when the service has no circuit breaker"
    )


class NodeOut(BaseModel):
    """One data-plane node as the inventory knows it."""

    model_config = ConfigDict(json_schema_extra={"examples": [EXAMPLE]})

    id: str
    labels: dict[str, str]
    address: str = Field(description="the node's proxy listen address")
    software_version: str
    capabilities: list[str]
    status: NodeStatusName
    applied_version: int | None = Field(description="the release the node serves, if any")
    applied_hash: str | None
    active_version: int | None = Field(description="the same: the active config's release")
    candidate_version: int | None = Field(
        description="during a rollout: the candidate the node serves beside it, or refused"
    )
    candidate_error: str | None = Field(description="why the node refused the candidate")
    apply_seconds: float | None = Field(description="compile and swap time of that release")
    rejected_version: int | None = Field(description="the last release the node refused")
    last_error: str | None = Field(description="why the node refused it")
    request_rate: float | None = Field(description="requests per second, last status report")
    error_rate: float | None = Field(description="share of 5xx answers, 0..1")
    p50_ms: float | None
    p99_ms: float | None
    open_connections: int | None
    targets: list[TargetOut] = Field(
        description="health and breaker state of the targets that have either, last reported"
    )
    first_seen: datetime
    last_seen: datetime

    @classmethod
    def of(cls, row: NodeRow, status: NodeStatusName) -> NodeOut:
        fields: dict[str, Any] = {
            name: getattr(row, name)
            for name in cls.model_fields
            if name not in ("status", "active_version")
        }
        fields["targets"] = row.targets or []
        return cls.model_validate(
            {**fields, "status": status, "active_version": row.applied_version}
        )


NodeIdParam = Annotated[
    str, Path(pattern=NODE_ID_PATTERN, description="a node id", examples=["edge-1"])
]


def _out(plane: PlaneDep, row: NodeRow, latest: SnapshotRef | None) -> NodeOut:
    offline_after = plane.settings.node_offline_after
    return NodeOut.of(row, node_status(row, latest, utcnow(), offline_after))


@router.get("", summary="List data-plane nodes")
def list_nodes(
    plane: PlaneDep, session: SessionDep, _admin: AdminDep, page: PaginationDep
) -> ItemPage[NodeOut]:
    """Every node heard of and not yet purged, ordered by id."""
    latest = latest_ref(session)
    rows, total = node_page(session, offset=page.offset, limit=page.limit)
    return ItemPage[NodeOut](items=[_out(plane, row, latest) for row in rows], total=total)


@router.get("/{node_id}", summary="Get a data-plane node", responses=NOT_FOUND)
def get_node(
    plane: PlaneDep, session: SessionDep, _admin: AdminDep, node_id: NodeIdParam
) -> NodeOut:
    row = session.get(NodeRow, node_id)
    if row is None:
        raise NotFound(f"no node {node_id!r}")
    return _out(plane, row, latest_ref(session))
