"""The web console at `/console`, and the API docs pages, served by the admin API's app.

Server-rendered pages (Jinja2) over the same store and checks as the admin API; every
file they load is served from `static/`, so the console works on an offline network.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from . import audit_page, docs, entities, overview, release_pages, rollout_page, sign_in
from .fleet_history import FleetHistory
from .headers import SecurityHeadersMiddleware
from .sessions import ConsoleSessions
from .web import STATIC_DIR, install_handlers

PAGE_ROUTERS = (sign_in, overview, release_pages, rollout_page, audit_page, docs)


def install_console(app: FastAPI) -> None:
    """Add the console, its files and the docs pages to the admin application."""
    app.state.console_sessions = ConsoleSessions()
    app.state.fleet_history = FleetHistory()
    install_handlers(app)
    app.add_middleware(SecurityHeadersMiddleware)
    app.mount("/console/static", StaticFiles(directory=STATIC_DIR), name="console-static")
    for module in PAGE_ROUTERS:
        app.include_router(module.router)
    for router in entities.routers():
        app.include_router(router)
    app.add_api_route("/", to_console, include_in_schema=False)


def to_console() -> RedirectResponse:
    """`/` on the admin port: the console."""
    return RedirectResponse("/console", status_code=307)
