"""The console's rollout page: start a rollout (a pasted or uploaded file, or a release to go
back to; a selector; an optional gate), watch both sides' figures, promote or roll back.

The form becomes the body `POST /api/v1/rollouts` takes and goes through the same
`Rollouts` steps, so it is refused for the same reasons, each shown beside its part of
the form. `static/rollout.js` redraws the figures from `rollout.json` every 5 s.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import ValidationError

from ..api.deps import PlaneDep, SessionDep
from ..errors import Conflict, FieldProblem, Invalid, NotFound, problems_from
from ..rollouts.lifecycle import Rollouts, rollout_json
from ..rollouts.spec import RolloutRequest
from ..store import rollouts
from .entities import ConsoleCatalog
from .forms import form_fields, parse_form
from .web import NO_STORE, ConsoleSession, PostedForm, SignedIn, render, see_other

router = APIRouter(prefix="/console/rollout", include_in_schema=False)

# The parts of the form a problem can be shown beside, by the first part of its field.
PARTS = ("config", "release", "selector", "gate")
GATE_FIELDS = ("soak", "min_requests", "max_error_rate_delta", "max_p99_ratio")


def _number(text: str) -> Any:
    """A number as typed, or the text itself for the model to refuse by name."""
    text = text.strip()
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


def rollout_request(fields: dict[str, str]) -> tuple[dict[str, Any], list[FieldProblem]]:
    """The body of a rollout as the form describes it, and what could not be read."""
    body: dict[str, Any] = {}
    problems: list[FieldProblem] = []
    if fields.get("candidate") == "release":
        body["release"] = _number(fields.get("release", ""))
    else:
        document, problems = parse_form(
            [f for f in form_fields(RolloutRequest) if f.name == "config"], fields
        )
        if "config" in document:
            body["config"] = document["config"]
        elif not problems:
            problems = [FieldProblem("config", "paste or upload the candidate's file")]
    kind = fields.get("selector", "")
    if kind == "percent":
        selector: dict[str, Any] = {"percent": _number(fields.get("percent", ""))}
        if fields.get("by", "").strip():
            selector["by"] = fields["by"].strip()
    elif kind == "header":
        selector = {
            "header": {
                "name": fields.get("header_name", ""),
                "value": fields.get("header_value", ""),
            }
        }
    elif kind == "nodes":
        labels = {}
        for line in fields.get("nodes", "").splitlines():
            key, sep, value = line.strip().partition("=")
            if line.strip() and not sep:
                problems.append(FieldProblem("selector", f"{line.strip()[:64]!r}: KEY=VALUE"))
            elif line.strip():
                labels[key.strip()] = value.strip()
        selector = {"nodes": labels}
    else:
        selector = {}
    body["selector"] = selector
    if fields.get("gate") == "on":
        body["gate"] = {
            name: _number(fields[name]) for name in GATE_FIELDS if fields.get(name, "").strip()
        }
    return body, problems


def _errors(problems: list[FieldProblem]) -> dict[str, list[str]]:
    shown: dict[str, list[str]] = {}
    for problem in problems:
        part = problem.field.partition(".")[0]
        shown.setdefault(part if part in PARTS else "", []).append(str(problem))
    return shown


def _page(
    request: Request,
    session: ConsoleSession,
    current: dict[str, Any] | None,
    *,
    status: int = 200,
    values: dict[str, str] | None = None,
    problems: Sequence[FieldProblem] = (),
) -> HTMLResponse:
    return render(
        request,
        "rollout.html",
        session,
        status,
        active="/console/rollout",
        rollout=current,
        values=values or {"candidate": "config", "selector": "percent", "percent": "10"},
        errors=_errors(list(problems)),
    )


def _current(session: Any) -> dict[str, Any] | None:
    row = rollouts.latest(session)
    return None if row is None else rollout_json(row)


@router.get("", response_class=HTMLResponse)
def rollout_page(request: Request, signed: SignedIn, session: SessionDep) -> HTMLResponse:
    return _page(request, signed, _current(session))


@router.get("/current.json")
def rollout_figures(_signed: SignedIn, session: SessionDep) -> JSONResponse:
    return JSONResponse({"rollout": _current(session)}, headers=NO_STORE)


@router.post("")
async def start(
    request: Request, form: PostedForm, plane: PlaneDep, catalog: ConsoleCatalog
) -> Response:
    body, problems = rollout_request(form.fields)
    status = 422
    if not problems:
        try:
            wanted = RolloutRequest.model_validate(body)
            await plane.releases.flush()  # the active release holds every committed change
            await run_in_threadpool(Rollouts(catalog).start, wanted)
            return see_other("/console/rollout")
        except ValidationError as exc:
            problems = problems_from(exc.errors())
        except Invalid as exc:
            problems = exc.problems or [FieldProblem("", exc.message)]
        except Conflict as exc:
            problems, status = [FieldProblem("", exc.message)], exc.status
    current = await run_in_threadpool(_current, catalog.session)
    return _page(
        request, form.session, current, status=status, values=form.fields, problems=problems
    )


def _end(request: Request, form: PostedForm, catalog: ConsoleCatalog, promote: bool) -> Response:
    steps = Rollouts(catalog)
    try:
        steps.promote() if promote else steps.rollback()
    except (Conflict, NotFound) as exc:
        current = _current(catalog.session)
        problems = [FieldProblem("", exc.message)]
        return _page(request, form.session, current, status=exc.status, problems=problems)
    return see_other("/console/rollout")


@router.post("/promote")
def promote(request: Request, form: PostedForm, catalog: ConsoleCatalog) -> Response:
    return _end(request, form, catalog, promote=True)


@router.post("/rollback")
def rollback(request: Request, form: PostedForm, catalog: ConsoleCatalog) -> Response:
    return _end(request, form, catalog, promote=False)
