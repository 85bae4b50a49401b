"""The admin API's access log: one line per request on the `fleetgate.admin.access` logger.

Method, path (without the query), status, duration and request id; never a header, so
never the admin token. The fields ride on the record too (`extra`), for the JSON log
format.
"""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .request_id import request_id_of

log = logging.getLogger("fleetgate.admin.access")


class AdminAccessLogMiddleware:
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
            duration_ms = (time.perf_counter() - started) * 1000
            fields = {
                "method": scope["method"],
                "path": scope["path"],
                "status": status,
                "duration_ms": round(duration_ms, 3),
                "request_id": request_id_of(scope),
            }
            log.info(
                "%s %s %d %.1f ms request_id=%s",
                fields["method"],
                fields["path"],
                status,
                duration_ms,
                fields["request_id"],
                extra={"fields": fields},
            )
