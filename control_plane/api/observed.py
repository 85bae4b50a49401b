"""Each admin request timed once, then logged and counted.

The log line goes to the `fleetgate.admin.access` logger: method, path (without the
query), status, duration and request id; never a header, so never the admin token. The
fields ride on the record too (`extra`), for the JSON log format. The count and the
latency go to the control plane's metrics under the route template
(`/api/v1/services/{name}`), never the raw path.
"""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..metrics import ControlPlaneMetrics
from .metrics import route_template
from .request_id import request_id_of

log = logging.getLogger("fleetgate.admin.access")


class AdminRequestObserver:
    """A middleware: the status and duration of each request, to the log and the metrics."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets if the app raises before answering

        async def send_observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_observed)
        finally:
            duration = time.perf_counter() - started
            # The application (Starlette puts it in the scope) holds the running plane.
            metrics: ControlPlaneMetrics = scope["app"].state.plane.metrics
            metrics.observe_admin_request(scope["method"], route_template(scope), status, duration)
            _log(scope, status, duration)


def _log(scope: Scope, status: int, duration: float) -> None:
    fields = {
        "method": scope["method"],
        "path": scope["path"],
        "status": status,
        "duration_ms": round(duration * 1000, 3),
        "request_id": request_id_of(scope),
    }
    log.info(
        "%s %s %d %.1f ms request_id=%s",
        fields["method"],
        fields["path"],
        status,
        duration * 1000,
        fields["request_id"],
        extra={"fields": fields},
    )
