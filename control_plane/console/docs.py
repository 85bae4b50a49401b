"""`/docs` (Swagger UI) and `/redoc`, served with their files from the control plane itself.

FastAPI's own pages load both viewers from a CDN, a blank page on an offline admin
network; these load the copies vendored in `static/vendor/` and start Swagger UI from
a script file, so the pages run under a CSP that allows no inline script.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from .web import templates

router = APIRouter(include_in_schema=False)


@router.get("/docs")
def swagger_ui(request: Request) -> HTMLResponse:
    return templates.TemplateResponse(request, "swagger_ui.html", {"title": request.app.title})


@router.get("/redoc")
def redoc(request: Request) -> HTMLResponse:
    return templates.TemplateResponse(request, "redoc.html", {"title": request.app.title})
