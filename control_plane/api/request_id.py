"""A request id on every admin response: the client's `X-Request-ID` when valid, else a new one.

The id is put in the ASGI scope's state (`request.state.request_id`) for handlers, the
audit log and error bodies, and echoed in the response's `X-Request-ID` header.
"""

from __future__ import annotations

import re
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# The rule the data plane applies too (DESIGN.md, "HTTP correctness at the edge").
VALID_REQUEST_ID = re.compile(rb"[A-Za-z0-9._-]{1,128}")
HEADER = b"x-request-id"


def request_id_of(scope: Scope) -> str:
    """The id the middleware gave this request ("-" outside of it)."""
    state = scope.get("state") or {}
    request_id: str = state.get("request_id", "-")
    return request_id


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = next((v for k, v in scope["headers"] if k == HEADER), b"")
        raw = incoming if VALID_REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex.encode()
        scope.setdefault("state", {})["request_id"] = raw.decode()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k != HEADER]
                message["headers"] = [*headers, (HEADER, raw)]
            await send(message)

        await self.app(scope, receive, send_with_id)
