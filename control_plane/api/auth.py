"""Admin authentication: every `/api/v1` route needs `Authorization: Bearer <admin token>`.

The check runs twice by design: `AdminRoute` makes it before the request body is read,
so a caller without the token learns nothing from a 422 about a malformed body; the
`admin` dependency makes it again and gives handlers the actor's name, and gives the
OpenAPI document its security scheme.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Header, Request, Response, Security
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ..errors import FieldProblem, Invalid, Unauthorized
from ..plane import ControlPlane
from .json_body import AdminRequest
from .query_names import declared_query_names, refuse_unknown_query

DEFAULT_ACTOR = "admin"
ACTOR_PATTERN = re.compile(r"[A-Za-z0-9@._+-]{1,128}")

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="admin token",
    description="The admin token: `--admin-token`, `FLEETGATE_ADMIN_TOKEN`, "
    "or the one printed on the control plane's first start.",
)


def check_token(request: Request) -> None:
    plane: ControlPlane = request.app.state.plane
    if not plane.admin.verify(request.headers.get("authorization")):
        raise Unauthorized("a valid admin token is needed: Authorization: Bearer <token>")


class AdminRoute(APIRoute):
    """A route of the admin API: the token is checked before anything else is looked at,
    then the query string holds only parameters the route declares."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        declared = declared_query_names(self.dependant)

        async def checked(request: Request) -> Response:
            check_token(request)
            refuse_unknown_query(request, declared)
            strict = AdminRequest(request.scope, request.receive)
            await strict.body()  # a body over the limit is 413 before FastAPI reads it
            return await handler(strict)

        return checked


def admin(
    request: Request,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
    x_actor: Annotated[
        str | None,
        Header(description="Who makes the change, for the audit log (default: admin)"),
    ] = None,
) -> str:
    """The name the audit log records for this authenticated caller."""
    check_token(request)
    if x_actor is None:
        return DEFAULT_ACTOR
    if not ACTOR_PATTERN.fullmatch(x_actor):
        raise Invalid.of([FieldProblem("X-Actor", "1 to 128 of letters, digits and @ . _ + -")])
    return x_actor
