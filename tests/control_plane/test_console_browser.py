"""The console in a real headless Chromium, against a real control plane and data-plane node.

Debian's `chromium` is driven by Playwright (`executable_path`: Playwright's own browser
download is not used). Without the browser the tests are skipped, and fail in CI. Each
page the flow visits is photographed into `SCREENSHOTS`; `docs/console-overview.png` in
the README is the overview taken here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import service_missing
from tests.sync.fleet import ADMIN_TOKEN, ControlPlane, Node, running, until, upstream

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "build" / "console-screenshots"
WAIT_MS = 30_000  # a release reaches the node and the overview redraws within seconds


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        service_missing("Playwright", exc)
    if not CHROMIUM.exists():
        service_missing("Chromium", FileNotFoundError(str(CHROMIUM)))
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[tuple[ControlPlane, Node, str]]:
    """A control plane, one node connected to it, and an upstream for the service."""
    control_plane = ControlPlane(tmp_path, "cp", f"sqlite:///{tmp_path / 'store.db'}")
    node = Node(tmp_path, "edge-1", [control_plane.sync_address])
    with upstream() as target, running(control_plane, node):
        control_plane.start().wait_healthy()
        node.start()
        yield control_plane, node, target


@pytest.fixture
def page(chromium: Any, fleet: tuple[ControlPlane, Node, str]) -> Iterator[Any]:
    context = chromium.new_context(
        viewport={"width": 1280, "height": 900},
        base_url=f"http://127.0.0.1:{fleet[0].admin_port}",
    )
    opened = context.new_page()
    opened.set_default_timeout(WAIT_MS)
    # An assertion waits as long as an action: the overview redraws every 5 s, so a
    # node's new status can take that long to show after it ACKs (expect's own default
    # is 5 s, which races the redraw).
    from playwright.sync_api import expect

    expect.set_options(timeout=WAIT_MS)
    problems: list[str] = []
    opened.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    opened.on(
        "console",
        lambda message: (
            problems.append(message.text)
            if message.type == "error" and "Content Security Policy" in message.text
            else None
        ),
    )
    try:
        yield opened
    finally:
        context.close()
    assert problems == [], "the console broke its own CSP or threw"


def shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def sign_in(page: Any) -> None:
    page.goto("/console")
    page.get_by_label("Admin token").fill(ADMIN_TOKEN)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/console")


def field(page: Any, label: str) -> Any:
    """The form field labelled `label` (required fields say so after the name)."""
    return page.get_by_label(re.compile(rf"^{re.escape(label)}( \(required\))?$"))


def create(page: Any, kind: str, noun: str, fields: dict[str, str]) -> None:
    page.get_by_role("navigation", name="Console").get_by_role("link", name=kind).click()
    page.get_by_role("link", name=f"New {noun}").click()
    for label, value in fields.items():
        field(page, label).fill(value)
    page.get_by_role("button", name=f"Create {noun}").click()


def test_an_operator_signs_in_configures_the_fleet_and_signs_out(
    page: Any, fleet: tuple[ControlPlane, Node, str]
) -> None:
    from playwright.sync_api import expect

    control_plane, node, target = fleet
    page.goto("/console")
    expect(page).to_have_url(re.compile(r"/console/sign-in$"))
    shot(page, "01-sign-in")
    sign_in(page)

    # A service, through its form.
    create(page, "Services", "service", {"Name": "users", "Targets": f"- address: {target}"})
    expect(page.locator("#notice")).to_have_text("Saved. The current release is v1.")
    shot(page, "02-service")

    # A route: first with a method the API refuses, its message beside the field.
    create(
        page,
        "Routes",
        "route",
        {"Name": "users-api", "Paths": "/users/**", "Methods": "GET\nFETCH", "Service": "users"},
    )
    expect(page.locator("#error-methods")).to_contain_text("unknown HTTP method(s): FETCH")
    expect(field(page, "Methods")).to_have_attribute("aria-invalid", "true")
    shot(page, "03-route-422")
    field(page, "Methods").fill("GET")
    page.get_by_role("button", name="Create route").click()
    expect(page.locator("#notice")).to_have_text("Saved. The current release is v2.")

    # The overview shows the release and, once it took it, the node SYNCED.
    page.get_by_role("link", name="Overview").click()
    expect(page.locator("#current-release")).to_have_text("v2")
    node.wait_ready()
    row = page.locator("#nodes tbody tr", has_text="edge-1")
    expect(row.locator(".status")).to_have_text("SYNCED")
    expect(row).to_contain_text("v2")
    assert node.get("/users/x").status_code == 200

    # Traffic through the node reaches the charts with its next report.
    def charted() -> bool:
        for _ in range(20):
            node.get("/users/x")
        return page.locator("#charts .now").first.inner_text() not in ("-", "0.00 req/s")

    until(charted, "the node's traffic on the overview's chart", timeout=60.0, interval=0.2)
    shot(page, "04-overview")

    # A consumer, and its API key shown once.
    create(page, "Tiers", "tier", {"Name": "PRO", "Requests per minute": "1000"})
    create(page, "Tenants", "tenant", {"Name": "acme", "Tier": "PRO"})
    create(page, "Consumers", "consumer", {"Name": "alice", "Tenant": "acme"})
    page.get_by_role("button", name="Generate an API key").click()
    key = page.get_by_label(re.compile(r"^API key")).input_value()
    assert len(key) >= 32
    shot(page, "05-api-key")
    page.get_by_role("link", name="Back to alice").click()
    assert key not in page.content()
    with control_plane.admin() as admin:
        stored = admin.get("/api/v1/consumers/alice").json()["api_keys"]
    assert len(stored) == 1 and key not in str(stored)

    # Two releases diffed.
    page.get_by_role("link", name="Releases").click()
    shot(page, "06-releases")
    page.get_by_label("From version").fill("1")
    page.get_by_label("to version").fill("2")
    page.get_by_role("button", name="Compare").click()
    expect(page.locator("#diff-summary")).to_have_text("1 entity changed.")
    expect(page.get_by_role("region", name="routes users-api added")).to_contain_text(
        "+ name: users-api"
    )
    shot(page, "07-diff")
    page.goto("/console/releases/2")
    expect(page.locator("#release-document")).to_contain_text("name: users-api")
    shot(page, "08-release")

    # A rollout back to release 1 beside the active one, then rolled back.
    page.get_by_role("link", name="Rollout").click()
    page.get_by_label("An earlier release").check()
    page.get_by_label("Release version").fill("1")
    page.get_by_role("button", name="Start the rollout").click()
    expect(page.locator("#rollout-state")).to_have_text("running")
    expect(page.locator("#rollout-figures tbody tr")).to_have_count(2)
    shot(page, "09-rollout")
    page.get_by_role("button", name="Roll back").click()
    expect(page.locator("#rollout-state")).to_have_text("rolled back")

    page.get_by_role("link", name="Audit log").click()
    page.get_by_label("Kind").select_option("routes")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#audit tbody tr")).to_have_count(1)
    shot(page, "10-audit")

    # Narrow screens.
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/console")
    shot(page, "11-overview-390")
    page.goto("/console/routes/users-api")
    shot(page, "12-route-390")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, "the page scrolls sideways at 390 px"

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/console/sign-in$"))
    page.goto("/console/services")
    expect(page).to_have_url(re.compile(r"/console/sign-in$"))


def test_the_console_is_keyboard_navigable(page: Any) -> None:
    from playwright.sync_api import expect

    page.goto("/console")
    token = page.get_by_label("Admin token")
    expect(token).to_be_focused()  # the sign-in form's only field has the focus
    page.keyboard.type(ADMIN_TOKEN)
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/console$"))
    page.keyboard.press("Tab")
    expect(page.locator(":focus")).to_have_text("Skip to content")
    focused = []
    for _ in range(14):
        page.keyboard.press("Tab")
        focused.append(page.evaluate("document.activeElement.textContent.trim()"))
    assert {"Overview", "Services", "Routes", "Audit log", "Sign out"} <= set(focused)


def test_a_form_stripped_of_its_csrf_token_is_refused(page: Any) -> None:
    from playwright.sync_api import expect

    sign_in(page)
    page.goto("/console/tiers/new")
    field(page, "Name").fill("FREE")
    page.evaluate("document.querySelector('form.entity input[name=csrf]').remove()")
    with page.expect_response(re.compile(r"/console/tiers/new$")) as answer:
        page.get_by_role("button", name="Create tier").click()
    assert answer.value.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text("The form was refused")


def test_pages_carry_the_csp_and_block_what_it_forbids(
    chromium: Any, fleet: tuple[ControlPlane, Node, str]
) -> None:
    admin = f"http://127.0.0.1:{fleet[0].admin_port}"
    page = chromium.new_page()
    try:
        answer = page.goto(f"{admin}/console/sign-in")
        policy = answer.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy
        blocked: list[str] = []
        page.on("console", lambda message: blocked.append(message.text))
        # A script injected into the page (as an XSS would) does not run.
        page.evaluate(
            "() => { const s = document.createElement('script');"
            " s.textContent = 'document.title = \"owned\"'; document.body.append(s); }"
        )
        assert page.title() != "owned"
        assert any("Content Security Policy" in text for text in blocked)
    finally:
        page.close()
    for path in ("/docs", "/redoc"):
        docs = httpx.get(f"{admin}{path}", timeout=10.0)
        assert "content-security-policy" in docs.headers
