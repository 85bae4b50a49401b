"""The console's overview: the fleet's nodes, the release they should serve, and charts of
the fleet's traffic that `static/overview.js` refreshes every 5 s from `fleet.json`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse

from ..api.deps import PlaneDep, SessionDep
from ..api.nodes import NodeOut
from ..store import releases
from ..store.nodes import node_page
from ..store.releases import latest_ref
from ..sync.inventory import node_status, utcnow
from .fleet_history import FleetHistory
from .web import NO_STORE, SignedIn, render

router = APIRouter(prefix="/console", include_in_schema=False)

NODES_SHOWN = 200  # the overview's table; the API pages through any number


def fleet_nodes(plane: PlaneDep, session: SessionDep) -> tuple[list[dict[str, Any]], int]:
    """The first nodes by id, as the admin API shows them, and how many there are."""
    latest = latest_ref(session)
    rows, total = node_page(session, offset=0, limit=NODES_SHOWN)
    now, offline_after = utcnow(), plane.settings.node_offline_after
    nodes = [
        NodeOut.of(row, node_status(row, latest, now, offline_after)).model_dump(mode="json")
        for row in rows
    ]
    return nodes, total


@router.get("", response_class=HTMLResponse)
def overview(
    request: Request, signed: SignedIn, plane: PlaneDep, session: SessionDep
) -> HTMLResponse:
    nodes, total = fleet_nodes(plane, session)
    history: FleetHistory = request.app.state.fleet_history
    return render(
        request,
        "overview.html",
        signed,
        active="/console",
        nodes=nodes,
        total_nodes=total,
        release=releases.latest(session),
        interval=history.interval,
    )


@router.get("/fleet.json")
def fleet(
    request: Request, _signed: SignedIn, plane: PlaneDep, session: SessionDep
) -> JSONResponse:
    """What the overview redraws: the samples of the last 15 minutes, nodes and release."""
    nodes, total = fleet_nodes(plane, session)
    latest = releases.latest(session)
    history: FleetHistory = request.app.state.fleet_history
    return JSONResponse(
        {
            "interval": history.interval,
            "samples": history.series(),
            "nodes": nodes,
            "total_nodes": total,
            "release": None
            if latest is None
            else {
                "version": latest.version,
                "hash": latest.hash,
                "created_at": latest.created_at.isoformat(),
                "author": latest.author,
            },
        },
        headers=NO_STORE,
    )
