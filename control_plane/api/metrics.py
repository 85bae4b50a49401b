"""`/metrics` in Prometheus text, and the route template admin requests are counted under."""

from __future__ import annotations

import re

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.types import Scope

from ..metrics import ControlPlaneMetrics

# Label for requests that matched no route: raw paths would make unbounded label sets.
UNMATCHED = "unmatched"
PATH_PARAM = re.compile(r"{(\w+)(?::\w+)?}")

router = APIRouter(tags=["operations"])


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text"}},
)
def metrics(request: Request) -> Response:
    """Admin request counts and latency, releases made, the latest release version."""
    registry: ControlPlaneMetrics = request.app.state.plane.metrics
    return Response(registry.render(), media_type=CONTENT_TYPE_LATEST)


def route_template(scope: Scope) -> str:
    """The matched route as a template, with the prefixes of the routers it was included in.

    The router leaves the route in the scope as its own router declared it (`/{name}`
    under `/services` under `/api/v1`); rendering it with the path parameters tells how
    much of the request path the prefixes took, and those are literal.
    """
    template = getattr(scope.get("route"), "path", None)
    if not isinstance(template, str):
        return UNMATCHED
    params = scope.get("path_params", {})
    try:
        rendered = PATH_PARAM.sub(lambda m: str(params[m.group(1)]), template)
    except KeyError:
        return template
    path: str = scope["path"]
    if rendered and path.endswith(rendered):
        return path[: len(path) - len(rendered)] + template
    return template
