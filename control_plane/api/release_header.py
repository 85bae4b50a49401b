"""`X-Fleetgate-Release` on every successful write: the release holding what it left.

A write's handler notes the number of its change (or, when it changed nothing, of the
last change reported) in the request's state; before the answer goes out, this
middleware waits for the release maker to have released that change - 50 ms after the
last change of a burst, 1 s at most - and names the latest release in the header. A
write that committed nothing new answers with the release that already holds it.
"""

from __future__ import annotations

import asyncio
import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..plane import ControlPlane
from ..store.releases import latest_version

log = logging.getLogger(__name__)

HEADER = b"x-fleetgate-release"
STATE_KEY = "release_change"
# The maker releases within 1 s of a change; past this the store is failing, and the
# write answers without the header rather than hang.
RELEASE_WAIT = 10.0


def note_change(scope: Scope, change: int) -> None:
    """Record that this request's answer waits for change number `change`."""
    scope.setdefault("state", {})[STATE_KEY] = change


class ReleaseHeaderMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return

        async def send_with_release(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] < 400:
                change = (scope.get("state") or {}).get(STATE_KEY)
                if change is not None:
                    version = await _release_of(scope["app"].state.plane, change)
                    if version is not None:
                        headers = list(message.get("headers", []))
                        message["headers"] = [*headers, (HEADER, str(version).encode())]
            await send(message)

        await self.app(scope, receive, send_with_release)


async def _release_of(plane: ControlPlane, change: int) -> int | None:
    if plane.releases.running:
        try:
            await asyncio.wait_for(plane.releases.released(change), RELEASE_WAIT)
        except TimeoutError:
            log.warning(
                "change %d not released within %g s: no release header", change, RELEASE_WAIT
            )
            return None
    return await asyncio.to_thread(_latest, plane)


def _latest(plane: ControlPlane) -> int | None:
    with plane.db.session() as session:
        return latest_version(session)
