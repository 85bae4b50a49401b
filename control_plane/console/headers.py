"""Security headers of the console's and the docs' pages: a strict Content-Security-Policy.

The console loads scripts, styles and images from the control plane only, with nothing
inline; it may be framed by no one and posts its forms only to itself. The API docs
(Swagger UI, Redoc) also load only local files, but both libraries set inline styles
and Redoc runs its search in a worker made from a blob, so their policy allows those
two and nothing else.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONSOLE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)
DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; font-src 'self'; worker-src 'self' blob:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
COMMON: list[tuple[bytes, bytes]] = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
]
DOCS_PATHS = ("/docs", "/redoc")


def policy_for(path: str) -> bytes | None:
    """The CSP of a path the console serves, or None for the API and everything else."""
    if path == "/console" or path.startswith("/console/"):
        return CONSOLE_CSP.encode()
    if path in DOCS_PATHS:
        return DOCS_CSP.encode()
    return None


class SecurityHeadersMiddleware:
    """Adds the CSP and its companions to the console's and the docs' answers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        policy = policy_for(scope["path"]) if scope["type"] == "http" else None
        if policy is None:
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(b"content-security-policy", policy), *COMMON]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
