"""`/api/v1/rollouts`: blue/green rollouts of a candidate config beside the active one.

At most one rollout runs; while it does, config writes answer 409
`rollout_in_progress`. `current` is the running rollout, else the last one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from ..errors import NotFound
from ..rollouts.lifecycle import Rollouts, rollout_json
from ..rollouts.spec import GateSpec, RolloutRequest, SelectorSpec
from ..store import rollouts
from ..store.nodes import candidate_nodes
from ..store.rollouts import RolloutRow
from .auth import AdminRoute
from .deps import AdminDep, CatalogDep, PaginationDep, PlaneDep, SessionDep
from .errors import UNAUTHORIZED, ErrorBody, Responses
from .schemas import ItemPage

router = APIRouter(
    prefix="/rollouts", tags=["rollouts"], route_class=AdminRoute, responses=UNAUTHORIZED
)

IN_PROGRESS: Responses = {
    409: {"model": ErrorBody, "description": "A rollout runs already, or none runs to end"}
}
REFUSED: Responses = {
    422: {
        "model": ErrorBody,
        "description": "The body is invalid, or the candidate would not compile, could not be "
        "served by the connected nodes, or equals the active config",
    }
}
NONE_YET: Responses = {404: {"model": ErrorBody, "description": "No rollout ever ran"}}


class SideFigures(BaseModel):
    requests: int = Field(examples=[1250])
    error_rate: float = Field(description="share of 5xx answers, 0..1", examples=[0.002])
    p99_ms: float = Field(examples=[12.5])


class RolloutFigures(BaseModel):
    active: SideFigures
    candidate: SideFigures


class CandidateNode(BaseModel):
    id: str = Field(examples=["edge-1"])
    labels: dict[str, str] = Field(examples=[{"group": "green"}])
    candidate: str = Field(description="serving or refused", examples=["serving"])
    error: str | None = Field(description="why the node refused it", examples=[None])


class RolloutOut(BaseModel):
    """A rollout: its versions, how traffic is picked, its gate, figures, how it ended."""

    id: int = Field(examples=[3])
    state: str = Field(description="running, promoted or rolled_back", examples=["running"])
    active_version: int = Field(examples=[41])
    candidate_version: int = Field(examples=[42])
    candidate_hash: str = Field(examples=["3b1f0c" + "0" * 58])
    source: dict[str, Any] = Field(examples=[{"config": "document"}])
    selector: SelectorSpec
    gate: GateSpec | None
    started_at: datetime
    started_by: str = Field(examples=["admin"])
    ended_at: datetime | None
    ended_by: str | None
    reason: str | None = Field(examples=["promoted by admin"])
    figures: RolloutFigures
    verdict: str | None = Field(
        description="a running gated rollout: what the gate says so far (wait, promote, "
        "rollback, and why)",
        examples=["wait: within bounds, soaking 12 s of 60 s"],
    )
    nodes: list[CandidateNode] = Field(
        default_factory=list,
        description="Nodes that serve the candidate, or refused it (the node then keeps "
        "serving the active config); filled in single rollouts, empty in lists",
    )


def _answer(session: Session, row: RolloutRow, status: int = 200) -> JSONResponse:
    rollout = rollout_json(row)
    rollout["nodes"] = [
        {
            "id": node.id,
            "labels": node.labels,
            "candidate": "refused" if node.candidate_error else "serving",
            "error": node.candidate_error,
        }
        for node in candidate_nodes(session, row.candidate_hash)
    ]
    # Let go of the store before answering: a write's answer waits for its release.
    session.rollback()
    return JSONResponse(rollout, status_code=status)


@router.post(
    "",
    status_code=201,
    summary="Start a rollout",
    response_model=RolloutOut,
    responses={**IN_PROGRESS, **REFUSED},
)
async def start_rollout(
    running: PlaneDep, catalog: CatalogDep, body: RolloutRequest
) -> JSONResponse:
    """The candidate is a whole config (file shape) or a release to go back to; it is
    checked like any release, then sent to nodes beside the active config."""
    await running.releases.flush()  # the active release must hold every committed change

    def start() -> JSONResponse:
        row = Rollouts(catalog).start(body)
        running.rollout_changed()
        return _answer(catalog.session, row, 201)

    return await run_in_threadpool(start)


@router.get("", summary="List rollouts", response_model=ItemPage[RolloutOut])
def list_rollouts(session: SessionDep, _admin: AdminDep, page: PaginationDep) -> JSONResponse:
    """Newest first."""
    rows, total = rollouts.page(session, limit=page.limit, offset=page.offset)
    items = [{**rollout_json(row), "nodes": []} for row in rows]
    return JSONResponse({"items": items, "total": total})


@router.get(
    "/current", summary="Get the current rollout", response_model=RolloutOut, responses=NONE_YET
)
def current_rollout(session: SessionDep, _admin: AdminDep) -> JSONResponse:
    """The running rollout, else the last one; 404 when none ever ran."""
    row = rollouts.latest(session)
    if row is None:
        raise NotFound("no rollout has run yet")
    return _answer(session, row)


@router.post(
    "/current/promote",
    summary="Promote the running rollout",
    response_model=RolloutOut,
    responses={**IN_PROGRESS, **REFUSED},
)
def promote_rollout(running: PlaneDep, catalog: CatalogDep) -> JSONResponse:
    """The candidate becomes the stored config and the next release, on every node."""
    row = Rollouts(catalog).promote()
    running.rollout_changed()
    return _answer(catalog.session, row)


@router.post(
    "/current/rollback",
    summary="Roll back the running rollout",
    response_model=RolloutOut,
    responses=IN_PROGRESS,
)
def rollback_rollout(running: PlaneDep, catalog: CatalogDep) -> JSONResponse:
    """Nodes drop the candidate; the active config never changed."""
    row = Rollouts(catalog).rollback()
    running.rollout_changed()
    return _answer(catalog.session, row)
