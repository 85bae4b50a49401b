"""Console pages of the config entities: lists with search and paging, create and edit
forms, delete with confirmation, and a consumer's API keys.

Every change goes through the same `Catalog` as the admin API, with the console as the
actor in the audit log, so a form is refused for exactly the reasons an API call would
be, and the refusal is shown beside the fields it names.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from data_plane.config.model import (
    ConsumerSpec,
    RouteSpec,
    ServiceSpec,
    Spec,
    TenantSpec,
    TierSpec,
)

from ..api.consumers import add_api_key
from ..api.deps import PlaneDep, SessionDep, open_catalog
from ..api.entities import NameParam
from ..errors import Conflict, FieldProblem, Invalid, NotFound, problems_from
from ..store import releases
from ..store.catalog import Catalog
from .forms import FormField, form_fields, form_values, parse_form, problems_by_field, summary
from .web import ConsoleSession, PostedForm, SignedIn, render, see_other

CONSOLE_ACTOR = "console"
PAGE_SIZE = 20
MAX_PAGE = 1_000_000


@dataclass(frozen=True, slots=True)
class Kind:
    """One entity kind as the console shows it."""

    kind: str  # "services"
    noun: str  # "service"
    title: str  # "Services"
    spec: type[Spec]
    columns: tuple[str, ...]  # fields shown in the list beside the name

    @property
    def path(self) -> str:
        return f"/console/{self.kind}"

    @property
    def fields(self) -> list[FormField]:
        return form_fields(self.spec)


KINDS = (
    Kind("services", "service", "Services", ServiceSpec, ("targets", "load_balancer", "retries")),
    Kind("routes", "route", "Routes", RouteSpec, ("paths", "methods", "hosts", "service")),
    Kind("tiers", "tier", "Tiers", TierSpec, ("requests_per_minute", "monthly_quota", "priority")),
    Kind("tenants", "tenant", "Tenants", TenantSpec, ("tier",)),
    Kind("consumers", "consumer", "Consumers", ConsumerSpec, ("tenant", "roles", "api_keys")),
)


def console_catalog(
    request: Request, _signed: SignedIn, running: PlaneDep, opened: SessionDep
) -> Catalog:
    return open_catalog(request, running, opened, CONSOLE_ACTOR)


ConsoleCatalog = Annotated[Catalog, Depends(console_catalog)]
SearchParam = Annotated[str, Query(max_length=128, description="names containing this")]
PageParam = Annotated[int, Query(ge=1, le=MAX_PAGE)]


def kind_router(kind: Kind) -> APIRouter:
    """The pages of one kind, under `/console/<kind>`."""
    router = APIRouter(prefix=kind.path, include_in_schema=False)

    def form_page(
        request: Request,
        session: ConsoleSession,
        *,
        name: str | None,
        values: dict[str, str],
        problems: Sequence[FieldProblem] = (),
        status: int = 200,
        notice: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> HTMLResponse:
        prefix = f"{kind.kind}.{name or values.get('name', '')}."
        return render(
            request,
            "entity_form.html",
            session,
            status,
            active=kind.path,
            kind=kind,
            name=name,
            fields=kind.fields,
            values=values,
            errors=problems_by_field(kind.fields, list(problems), prefix),
            notice=notice,
            **(extra or {}),
        )

    def save(request: Request, form: PostedForm, catalog: Catalog, name: str | None) -> Response:
        body, problems = parse_form(kind.fields, form.fields)
        if name is not None:
            body["name"] = name
        status = 422
        if not problems:
            try:
                spec = kind.spec.model_validate(body)
                if name is None:
                    saved = catalog.create(kind.kind, spec)
                else:
                    saved = catalog.replace(kind.kind, name, spec)
                return see_other(f"{kind.path}/{saved.body['name']}?saved=1")
            except ValidationError as exc:
                problems = problems_from(exc.errors())
            except Invalid as exc:
                problems = exc.problems or [FieldProblem("", exc.message)]
            except (Conflict, NotFound) as exc:
                problems, status = [FieldProblem("", exc.message)], exc.status
        values = {f.name: form.get(f.name) for f in kind.fields}
        if name is not None:
            values["name"] = name
        return form_page(
            request, form.session, name=name, values=values, problems=problems, status=status
        )

    @router.get("", response_class=HTMLResponse)
    def list_page(
        request: Request,
        signed: SignedIn,
        catalog: ConsoleCatalog,
        q: SearchParam = "",
        page: PageParam = 1,
    ) -> HTMLResponse:
        found = catalog.page(
            kind.kind,
            limit=PAGE_SIZE,
            offset=(page - 1) * PAGE_SIZE,
            name_contains=q or None,
        )
        rows = [
            (item.body["name"], [summary(item.full.get(column)) for column in kind.columns])
            for item in found.items
        ]
        pages = max(1, -(-found.total // PAGE_SIZE))
        return render(
            request,
            "entity_list.html",
            signed,
            active=kind.path,
            kind=kind,
            rows=rows,
            total=found.total,
            q=q,
            page=page,
            pages=pages,
            notice=request.query_params.get("deleted"),
        )

    @router.get("/new", response_class=HTMLResponse)
    def new_page(request: Request, signed: SignedIn) -> HTMLResponse:
        return form_page(request, signed, name=None, values={})

    @router.post("/new")
    def create(request: Request, form: PostedForm, catalog: ConsoleCatalog) -> Response:
        return save(request, form, catalog, None)

    @router.get("/{name}", response_class=HTMLResponse)
    def edit_page(
        request: Request,
        signed: SignedIn,
        catalog: ConsoleCatalog,
        plane: PlaneDep,
        name: NameParam,
    ) -> HTMLResponse:
        try:
            stored = catalog.get(kind.kind, name)
        except NotFound as exc:
            return render(request, "not_found.html", signed, 404, message=exc.message)
        notice = None
        if request.query_params.get("saved"):
            version = releases.latest_version(catalog.session)
            notice = f"Saved. The current release is v{version}." if version else "Saved."
        return form_page(
            request,
            signed,
            name=name,
            values=form_values(kind.fields, stored.full),
            notice=notice,
            extra={"entity": stored},
        )

    @router.post("/{name}")
    def replace(
        request: Request, form: PostedForm, catalog: ConsoleCatalog, name: NameParam
    ) -> Response:
        return save(request, form, catalog, name)

    @router.get("/{name}/delete", response_class=HTMLResponse)
    def delete_page(
        request: Request, signed: SignedIn, catalog: ConsoleCatalog, name: NameParam
    ) -> HTMLResponse:
        try:
            catalog.get(kind.kind, name)
        except NotFound as exc:
            return render(request, "not_found.html", signed, 404, message=exc.message)
        return render(
            request,
            "entity_delete.html",
            signed,
            active=kind.path,
            kind=kind,
            name=name,
            error=None,
        )

    @router.post("/{name}/delete")
    def delete(
        request: Request, form: PostedForm, catalog: ConsoleCatalog, name: NameParam
    ) -> Response:
        try:
            catalog.delete(kind.kind, name)
        except (Conflict, NotFound) as exc:
            return render(
                request,
                "entity_delete.html",
                form.session,
                exc.status,
                active=kind.path,
                kind=kind,
                name=name,
                error=exc.message,
            )
        return see_other(f"{kind.path}?deleted={name}")

    return router


def api_key_router() -> APIRouter:
    """A consumer's API key: generated here, shown on the answer page once."""
    router = APIRouter(prefix="/console/consumers", include_in_schema=False)

    @router.post("/{name}/api-keys", response_class=HTMLResponse)
    def generate(
        request: Request, form: PostedForm, catalog: ConsoleCatalog, name: NameParam
    ) -> HTMLResponse:
        try:
            created = add_api_key(catalog, name)
        except NotFound as exc:
            return render(request, "not_found.html", form.session, 404, message=exc.message)
        return render(
            request,
            "api_key.html",
            form.session,
            201,
            active="/console/consumers",
            consumer=name,
            key_id=created.id,
            key=created.key,
        )

    return router


def routers() -> list[APIRouter]:
    """Every entity page; the API key page comes first, before `/{name}` of consumers."""
    return [api_key_router(), *(kind_router(kind) for kind in KINDS)]
