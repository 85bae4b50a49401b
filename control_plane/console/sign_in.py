"""Signing in to the console with the admin token, and signing out."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from .sessions import (
    MAX_TOKEN_LENGTH,
    SESSION_COOKIE,
    SESSION_LIFETIME,
    SIGN_IN_COOKIE,
    new_sign_in_token,
    same_token,
)
from .web import (
    SIGN_IN_PATH,
    FormRefused,
    PostedForm,
    read_form,
    render,
    see_other,
    sessions_of,
)

router = APIRouter(prefix="/console", include_in_schema=False)

SIGN_IN_TOKEN_LIFETIME = 3600  # seconds a sign-in form stays good for
# The admin token is a few dozen characters; anything much longer is not it.
MAX_ADMIN_TOKEN = 1024


def _secure(request: Request) -> bool:
    """Cookies are marked Secure when the console is reached over TLS."""
    return request.url.scheme == "https"


def _sign_in_form(request: Request, status: int = 200, error: str | None = None) -> Response:
    token = request.cookies.get(SIGN_IN_COOKIE)
    if not token or len(token) > MAX_TOKEN_LENGTH:
        token = new_sign_in_token()
    response = render(request, "sign_in.html", None, status, sign_in_token=token, error=error)
    response.set_cookie(
        SIGN_IN_COOKIE,
        token,
        max_age=SIGN_IN_TOKEN_LIFETIME,
        path=SIGN_IN_PATH,
        secure=_secure(request),
        httponly=True,
        samesite="strict",
    )
    return response


@router.get("/sign-in")
def sign_in_form(request: Request) -> Response:
    if sessions_of(request).valid(request.cookies.get(SESSION_COOKIE)):
        return see_other("/console")
    return _sign_in_form(request)


@router.post("/sign-in")
async def sign_in(request: Request) -> Response:
    fields = await read_form(request)
    if not same_token(request.cookies.get(SIGN_IN_COOKIE), fields.get("csrf")):
        raise FormRefused("the sign-in form did not carry its CSRF token; load it again")
    token = fields.get("token", "").strip()
    admin = request.app.state.plane.admin
    if not token or len(token) > MAX_ADMIN_TOKEN or not admin.verify(f"Bearer {token}"):
        return _sign_in_form(request, 401, "That is not the admin token.")
    session_id = sessions_of(request).open()
    response = see_other("/console")
    response.set_cookie(
        SESSION_COOKIE,
        session_id,
        max_age=int(SESSION_LIFETIME),
        path="/console",
        secure=_secure(request),
        httponly=True,
        samesite="strict",
    )
    response.delete_cookie(SIGN_IN_COOKIE, path=SIGN_IN_PATH)
    return response


@router.post("/sign-out")
def sign_out(request: Request, form: PostedForm) -> Response:
    sessions_of(request).close(form.session.session_id)
    response = see_other(SIGN_IN_PATH)
    response.delete_cookie(SESSION_COOKIE, path="/console")
    return response
