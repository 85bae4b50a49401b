"""What every console page shares: the templates, the signed-in session, posted forms.

`SignedIn` is the dependency of every page: without a live session cookie the page
answers with a redirect to the sign-in form. `PostedForm` is the dependency of every
form handler: a signed-in session, a bounded URL-encoded body, and the session's CSRF
token in it (403 without). Pages are never cached: they show the store as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qsl

import jinja2
from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from ..api.json_body import read_bounded
from .sessions import SESSION_COOKIE, ConsoleSessions

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
SIGN_IN_PATH = "/console/sign-in"
# The console's forms are a few fields; a whole entity in YAML is a few kilobytes.
MAX_FORM_BYTES = 1024 * 1024
MAX_FORM_FIELDS = 500
NO_STORE = {"Cache-Control": "no-store"}
# The console's navigation, in order.
PAGES = [
    ("/console", "Overview"),
    ("/console/services", "Services"),
    ("/console/routes", "Routes"),
    ("/console/tiers", "Tiers"),
    ("/console/tenants", "Tenants"),
    ("/console/consumers", "Consumers"),
    ("/console/releases", "Releases"),
    ("/console/rollout", "Rollout"),
    ("/console/audit", "Audit log"),
]

templates = Jinja2Templates(
    env=jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
)
templates.env.globals["console_pages"] = PAGES


class SignInNeeded(Exception):
    """The request has no live console session: it is sent to the sign-in form."""


class FormRefused(Exception):
    """A posted form without the session's CSRF token (or not a form at all): 403."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ConsoleSession:
    """The signed-in session of a request: its id, and the CSRF token its forms carry."""

    session_id: str
    csrf: str


def sessions_of(request: Request) -> ConsoleSessions:
    sessions: ConsoleSessions = request.app.state.console_sessions
    return sessions


def signed_in(request: Request) -> ConsoleSession:
    sessions = sessions_of(request)
    session_id = request.cookies.get(SESSION_COOKIE)
    if session_id is None or not sessions.valid(session_id):
        raise SignInNeeded
    return ConsoleSession(session_id, sessions.csrf_token(session_id))


SignedIn = Annotated[ConsoleSession, Depends(signed_in)]


async def read_form(request: Request) -> dict[str, str]:
    """A URL-encoded body, bounded, one value per field (a repeated field is refused)."""
    if request.headers.get("content-type", "").split(";")[0].strip() != (
        "application/x-www-form-urlencoded"
    ):
        raise FormRefused("not a form post")
    body = await read_bounded(request.stream(), MAX_FORM_BYTES, "the form")
    try:
        pairs = parse_qsl(
            body.decode(),
            keep_blank_values=True,
            strict_parsing=False,
            max_num_fields=MAX_FORM_FIELDS,
        )
    except (UnicodeDecodeError, ValueError) as exc:
        raise FormRefused(f"the form cannot be read: {exc}") from None
    fields: dict[str, str] = {}
    for key, value in pairs:
        if key in fields:
            raise FormRefused(f"the field {key[:64]!r} is given twice")
        fields[key] = value
    return fields


@dataclass(frozen=True, slots=True)
class Posted:
    """A form a signed-in session posted, its CSRF token checked."""

    session: ConsoleSession
    fields: dict[str, str]

    def get(self, name: str) -> str:
        return self.fields.get(name, "")


async def posted_form(request: Request, session: SignedIn) -> Posted:
    fields = await read_form(request)
    if not sessions_of(request).csrf_valid(session.session_id, fields.pop("csrf", None)):
        raise FormRefused("the form did not carry this session's CSRF token")
    return Posted(session, fields)


PostedForm = Annotated[Posted, Depends(posted_form)]


def render(
    request: Request,
    template: str,
    session: ConsoleSession | None,
    status: int = 200,
    **context: Any,
) -> HTMLResponse:
    """A page of the console; `session` gives its forms their CSRF token."""
    return templates.TemplateResponse(
        request,
        template,
        {"session": session, "csrf": session.csrf if session else "", "active": "", **context},
        status_code=status,
        headers=NO_STORE,
    )


def see_other(path: str) -> RedirectResponse:
    """After a form: the browser loads `path` with a GET (303)."""
    return RedirectResponse(path, status_code=303, headers=NO_STORE)


async def on_sign_in_needed(request: Request, exc: Exception) -> Response:
    return see_other(SIGN_IN_PATH)


async def on_form_refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, FormRefused)
    return render(request, "refused.html", None, status=403, reason=exc.reason)


def install_handlers(app: FastAPI) -> None:
    app.add_exception_handler(SignInNeeded, on_sign_in_needed)
    app.add_exception_handler(FormRefused, on_form_refused)
