"""The console's pages of entities, releases and the audit log, and its entity forms."""

from __future__ import annotations

import hashlib
import re
from html import unescape

import pytest
import yaml
from fastapi.testclient import TestClient

from control_plane.console.forms import (
    GENERAL,
    FormField,
    form_fields,
    form_values,
    parse_form,
    problems_by_field,
)
from control_plane.errors import FieldProblem
from control_plane.plane import ControlPlane
from data_plane.config.model import RouteSpec, ServiceSpec

from .conftest import SEED, ok, settle
from .test_console_security import csrf_of, sign_in


@pytest.fixture
def browser(anonymous: TestClient) -> TestClient:
    return sign_in(anonymous)


def post_form(browser: TestClient, page: str, action: str, fields: dict[str, str]) -> object:
    """Post `fields` as the form of `page` would, with its CSRF token."""
    token = csrf_of(browser.get(page).text)
    return browser.post(action, data={"csrf": token, **fields}, follow_redirects=False)


def field_error(html: str, name: str) -> str:
    found = re.search(rf'<p class="error" id="error-{name}">(.*?)</p>', html, re.S)
    assert found is not None, f"no error beside {name}"
    return unescape(found.group(1))


# ---------------------------------------------------------------- forms, pure


def test_each_model_field_gets_a_widget_of_its_kind() -> None:
    fields = {f.name: f for f in form_fields(ServiceSpec)}
    assert fields["name"].widget == "text" and fields["name"].required
    assert fields["retries"].widget == "number" and fields["retries"].step == "1"
    assert fields["retry_non_idempotent"].widget == "checkbox"
    assert fields["load_balancer"].widget == "select"
    assert "consistent_hash" in fields["load_balancer"].choices
    assert fields["targets"].widget == "yaml"
    assert fields["tags"].widget == "lines"
    assert fields["max_concurrent_requests"].widget == "number"
    route = {f.name: f for f in form_fields(RouteSpec)}
    assert route["paths"].widget == "lines" and route["paths"].required


def test_a_form_reads_numbers_lines_checkboxes_and_yaml() -> None:
    body, problems = parse_form(
        form_fields(ServiceSpec),
        {
            "name": "users",
            "targets": "- address: 127.0.0.1:9001\n  weight: 2",
            "retries": "3",
            "retry_non_idempotent": "on",
            "tags": "a\n\n  b  \n",
            "timeouts": "",
        },
    )
    assert problems == []
    assert body == {
        "name": "users",
        "targets": [{"address": "127.0.0.1:9001", "weight": 2}],
        "retries": 3,
        "retry_non_idempotent": True,
        "tags": ["a", "b"],
    }


@pytest.mark.parametrize(
    ("field", "text", "message"),
    [
        ("retries", "2.5", "a whole number is expected"),
        ("retries", "1e400", "a whole number is expected"),
        ("targets", "a: [", "not valid YAML or JSON"),
        ("targets", "- &a {address: x}\n- *a", "anchors and aliases are not accepted here"),
        ("targets", "- address: x\n  address: y", "is given twice"),
    ],
)
def test_a_field_that_cannot_be_read_is_named(field: str, text: str, message: str) -> None:
    _, problems = parse_form(form_fields(ServiceSpec), {"name": "users", field: text})
    assert [p.field for p in problems] == [field]
    assert message in problems[0].message


def test_an_entity_is_shown_with_every_field() -> None:
    fields = form_fields(ServiceSpec)
    full = ServiceSpec.model_validate(
        {"name": "users", "targets": [{"address": "127.0.0.1:9001"}]}
    ).model_dump(mode="json")
    values = form_values(fields, full)
    assert values["retries"] == "0"
    assert values["load_balancer"] == "round_robin"
    assert yaml.safe_load(values["targets"]) == [{"address": "127.0.0.1:9001", "weight": 1}]
    assert values["health_check"] == ""
    assert parse_form(fields, values)[0]["targets"] == full["targets"]


def test_problems_go_beside_the_field_they_name() -> None:
    fields = [
        FormField("targets", "Targets", "yaml", False),
        FormField("service", "S", "text", True),
    ]
    shown = problems_by_field(
        fields,
        [
            FieldProblem("targets.0.weight", "too big"),
            FieldProblem("routes.api.service", "no service named 'x'"),
            FieldProblem("", "the whole thing"),
        ],
        prefix="routes.api.",
    )
    assert shown == {
        "targets": ["targets.0.weight: too big"],
        "service": ["no service named 'x'"],
        GENERAL: ["the whole thing"],
    }


# ---------------------------------------------------------------- entity pages


def test_creating_a_service_through_its_form_releases_it(
    browser: TestClient, client: TestClient
) -> None:
    answer = post_form(
        browser,
        "/console/services/new",
        "/console/services/new",
        {"name": "users", "targets": "[{address: '127.0.0.1:9001'}]", "retries": "2"},
    )
    assert answer.status_code == 303, answer.text  # type: ignore[attr-defined]
    assert answer.headers["location"] == "/console/services/users?saved=1"  # type: ignore[attr-defined]
    assert answer.headers["x-fleetgate-release"] == "1"  # type: ignore[attr-defined]
    stored = ok(client.get("/api/v1/services/users"))
    assert stored["retries"] == 2
    assert stored["targets"] == [{"address": "127.0.0.1:9001", "weight": 1}]
    page = browser.get("/console/services/users?saved=1")
    assert "Saved. The current release is v1." in page.text
    audit = ok(client.get("/api/v1/audit"))["items"]
    assert [(e["actor"], e["action"]) for e in audit] == [("console", "create")]


def test_a_bad_field_is_422_with_the_apis_message_beside_it(
    browser: TestClient, client: TestClient
) -> None:
    fields = {"name": "users", "targets": "[{address: '127.0.0.1:9001', weight: 70000}]"}
    answer = post_form(browser, "/console/services/new", "/console/services/new", fields)
    assert answer.status_code == 422  # type: ignore[attr-defined]
    html = answer.text  # type: ignore[attr-defined]
    api = client.post(
        "/api/v1/services",
        json=yaml.safe_load(yaml.safe_dump(fields))
        | {"targets": [{"address": "127.0.0.1:9001", "weight": 70000}]},
    )
    api_message = api.json()["error"]["details"][0]["message"]
    assert field_error(html, "targets") == f"targets.0.weight: {api_message}"
    assert 'aria-invalid="true"' in html
    # What was typed stays in the form.
    assert "weight: 70000" in html
    assert ok(client.get("/api/v1/services"))["total"] == 0


def test_a_change_the_store_refuses_names_the_field(
    seeded: TestClient, browser: TestClient
) -> None:
    answer = post_form(
        browser,
        "/console/routes/new",
        "/console/routes/new",
        {"name": "orders-api", "paths": "/orders/**", "service": "orders"},
    )
    assert answer.status_code == 422  # type: ignore[attr-defined]
    assert "orders" in field_error(answer.text, "service")  # type: ignore[attr-defined]


def test_a_duplicate_name_is_409_on_the_form(seeded: TestClient, browser: TestClient) -> None:
    answer = post_form(
        browser, "/console/tiers/new", "/console/tiers/new", {"name": "PRO", "priority": "1"}
    )
    assert answer.status_code == 409  # type: ignore[attr-defined]
    assert 'id="form-errors"' in answer.text  # type: ignore[attr-defined]


def test_editing_replaces_the_entity(seeded: TestClient, browser: TestClient) -> None:
    page = browser.get("/console/tenants/acme")
    assert 'value="acme" readonly' in page.text
    answer = post_form(
        browser,
        "/console/tenants/acme",
        "/console/tenants/acme",
        {"tier": "PRO", "metadata": "plan: gold"},
    )
    assert answer.status_code == 303, answer.text  # type: ignore[attr-defined]
    assert ok(seeded.get("/api/v1/tenants/acme"))["metadata"] == {"plan": "gold"}


def test_lists_search_by_name_and_page(
    seeded: TestClient, browser: TestClient, plane: ControlPlane
) -> None:
    tiers = [{"name": f"T{i:02d}"} for i in range(30)]
    ok(seeded.put("/api/v1/config", json={**SEED, "tiers": [*SEED["tiers"], *tiers]}))
    first = browser.get("/console/tiers")
    assert "(31)" in first.text and "Page 1 of 2" in first.text
    assert ">T00</a>" in first.text and ">T25</a>" not in first.text
    second = browser.get("/console/tiers?page=2")
    assert ">T25</a>" in second.text and ">T00</a>" not in second.text
    found = browser.get("/console/tiers?q=T1")
    names = re.findall(r'<a href="/console/tiers/([^"]+)">', found.text)
    assert names == [f"T1{i}" for i in range(10)]


def test_delete_asks_then_deletes(seeded: TestClient, browser: TestClient) -> None:
    confirm = browser.get("/console/routes/users-api/delete")
    assert "Delete route <code>users-api</code>?" in confirm.text
    assert seeded.get("/api/v1/routes/users-api").status_code == 200  # asking deletes nothing
    answer = post_form(
        browser, "/console/routes/users-api/delete", "/console/routes/users-api/delete", {}
    )
    assert answer.status_code == 303  # type: ignore[attr-defined]
    assert seeded.get("/api/v1/routes/users-api").status_code == 404


def test_deleting_what_is_referenced_is_refused_on_the_page(
    seeded: TestClient, browser: TestClient
) -> None:
    answer = post_form(
        browser, "/console/services/users/delete", "/console/services/users/delete", {}
    )
    assert answer.status_code == 409  # type: ignore[attr-defined]
    assert "users-api" in answer.text  # type: ignore[attr-defined]
    assert seeded.get("/api/v1/services/users").status_code == 200


def test_an_api_key_is_shown_once_and_stored_as_its_hash(
    seeded: TestClient, browser: TestClient
) -> None:
    answer = post_form(browser, "/console/consumers/alice", "/console/consumers/alice/api-keys", {})
    assert answer.status_code == 201  # type: ignore[attr-defined]
    found = re.search(r'id="api-key" type="text" value="([^"]+)"', answer.text)  # type: ignore[attr-defined]
    assert found is not None
    key = found.group(1)
    stored = ok(seeded.get("/api/v1/consumers/alice"))["api_keys"]
    assert [k["hash"] for k in stored] == [hashlib.sha256(key.encode()).hexdigest()]
    for page in ("/console/consumers/alice", "/console/consumers", "/console/audit"):
        assert key not in browser.get(page).text


def test_a_missing_entity_is_a_404_page(browser: TestClient) -> None:
    answer = browser.get("/console/services/nope")
    assert answer.status_code == 404
    assert "no service named 'nope'" in unescape(answer.text)


# ---------------------------------------------------------------- releases and audit


def test_a_release_is_shown_in_the_file_shape(seeded: TestClient, browser: TestClient) -> None:
    page = browser.get("/console/releases/1")
    assert page.status_code == 200
    found = re.search(r'<pre class="document"[^>]*>(.*?)</pre>', page.text, re.S)
    assert found is not None
    assert yaml.safe_load(unescape(found.group(1))) == ok(seeded.get("/api/v1/releases/1"))


def test_two_releases_are_diffed(
    seeded: TestClient, browser: TestClient, plane: ControlPlane
) -> None:
    ok(seeded.patch("/api/v1/services/users", json={"retries": 3}))
    settle(seeded, plane)
    listing = browser.get("/console/releases")
    assert ">v2</a>" in listing.text and ">v1</a>" in listing.text
    page = browser.get("/console/releases/diff?a=1&b=2")
    assert "1 entity changed." in page.text
    assert '<span class="add">+ retries: 3</span>' in page.text
    same = browser.get("/console/releases/diff?a=2&b=2")
    assert "The two releases hold the same config." in same.text
    missing = browser.get("/console/releases/diff?a=1&b=99")
    assert missing.status_code == 404


def test_the_audit_log_filters_by_kind_and_name(seeded: TestClient, browser: TestClient) -> None:
    every = browser.get("/console/audit")
    assert 'Audit log <span class="count">(5)</span>' in every.text
    routes = browser.get("/console/audit?kind=routes")
    assert "(1)" in routes.text and "users-api" in routes.text
    none = browser.get("/console/audit?kind=services&name=users-api")
    assert "No entry matches the filter." in none.text


# ---------------------------------------------------------------- every page guarded

PAGES = [
    "/console/services",
    "/console/services/new",
    "/console/services/users",
    "/console/services/users/delete",
    "/console/consumers/alice",
    "/console/releases",
    "/console/releases/1",
    "/console/releases/diff?a=1&b=1",
    "/console/audit",
]
FORMS = [
    ("/console/services/new", "/console/services/new"),
    ("/console/services/users", "/console/services/users"),
    ("/console/routes/users-api/delete", "/console/routes/users-api/delete"),
    ("/console/consumers/alice", "/console/consumers/alice/api-keys"),
]


@pytest.mark.parametrize("path", PAGES)
def test_every_page_answers_a_signed_in_browser_and_sends_others_to_sign_in(
    seeded: TestClient, browser: TestClient, path: str
) -> None:
    assert browser.get(path).status_code == 200
    stranger = TestClient(browser.app)
    stranger.portal = browser.portal
    answer = stranger.get(path, follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/sign-in"


@pytest.mark.parametrize(("page", "action"), FORMS)
def test_every_form_without_its_csrf_token_is_403_and_changes_nothing(
    seeded: TestClient, browser: TestClient, page: str, action: str
) -> None:
    before = ok(seeded.get("/api/v1/config"))
    assert 'name="csrf"' in browser.get(page).text
    answer = browser.post(action, data={"name": "x", "tier": "PRO"}, follow_redirects=False)
    assert answer.status_code == 403
    answer = browser.post(action, data={"csrf": "0" * 64, "name": "x"}, follow_redirects=False)
    assert answer.status_code == 403
    assert ok(seeded.get("/api/v1/config")) == before
