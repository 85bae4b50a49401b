"""The console's sign-in, sessions, CSRF tokens and security headers, and the local docs pages."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient

from control_plane.console.headers import CONSOLE_CSP
from control_plane.console.sessions import SESSION_COOKIE, SIGN_IN_COOKIE, ConsoleSessions

from .conftest import TOKEN

CSRF_FIELD = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = CSRF_FIELD.search(html)
    assert found is not None, html
    return found.group(1)


def sign_in(browser: TestClient, token: str = TOKEN) -> TestClient:
    form = browser.get("/console/sign-in")
    assert form.status_code == 200, form.text
    answer = browser.post(
        "/console/sign-in",
        data={"csrf": csrf_of(form.text), "token": token},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/console"
    return browser


@pytest.fixture
def browser(anonymous: TestClient) -> TestClient:
    """A client with no Authorization header: it has only what the console gives it."""
    return anonymous


def set_cookie(response: object, name: str) -> str:
    headers = response.headers.get_list("set-cookie")  # type: ignore[attr-defined]
    found = [h for h in headers if h.startswith(f"{name}=")]
    assert len(found) == 1, headers
    return str(found[0])


# ---------------------------------------------------------------- signing in and out


@pytest.mark.parametrize("path", ["/console", "/console/", "/console/sign-out"])
def test_without_a_session_cookie_the_console_redirects_to_sign_in(
    browser: TestClient, path: str
) -> None:
    method = "POST" if path.endswith("sign-out") else "GET"
    answer = browser.request(method, path, follow_redirects=False)
    assert answer.status_code in (303, 307), answer.text
    if answer.status_code == 307:  # "/console/" is sent to "/console" first
        answer = browser.get(answer.headers["location"], follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/sign-in"


def test_a_forged_session_cookie_is_sent_to_sign_in(browser: TestClient) -> None:
    browser.cookies.set(SESSION_COOKIE, "x" * 43, path="/console")
    answer = browser.get("/console", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/sign-in"


def test_signing_in_with_the_admin_token_sets_an_http_only_strict_session_cookie(
    browser: TestClient,
) -> None:
    form = browser.get("/console/sign-in")
    answer = browser.post(
        "/console/sign-in",
        data={"csrf": csrf_of(form.text), "token": TOKEN},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    cookie = set_cookie(answer, SESSION_COOKIE).lower()
    assert "httponly" in cookie
    assert "samesite=strict" in cookie
    assert "path=/console" in cookie
    assert "secure" not in cookie  # plain HTTP: a Secure cookie would never come back
    page = browser.get("/console")
    assert page.status_code == 200
    assert "<h1>Overview</h1>" in page.text


def test_over_tls_the_session_cookie_is_secure(anonymous: TestClient) -> None:
    browser = TestClient(anonymous.app, base_url="https://testserver")
    browser.portal = anonymous.portal
    form = browser.get("/console/sign-in")
    assert "secure" in set_cookie(form, SIGN_IN_COOKIE).lower()
    answer = browser.post(
        "/console/sign-in",
        data={"csrf": csrf_of(form.text), "token": TOKEN},
        follow_redirects=False,
    )
    cookie = set_cookie(answer, SESSION_COOKIE).lower()
    assert "secure" in cookie and "httponly" in cookie and "samesite=strict" in cookie


def test_a_wrong_token_is_refused_and_opens_no_session(browser: TestClient) -> None:
    form = browser.get("/console/sign-in")
    answer = browser.post(
        "/console/sign-in",
        data={"csrf": csrf_of(form.text), "token": "not-the-token-0123456789"},
        follow_redirects=False,
    )
    assert answer.status_code == 401
    assert "That is not the admin token." in answer.text
    assert SESSION_COOKIE not in answer.headers.get("set-cookie", "")
    assert browser.get("/console", follow_redirects=False).status_code == 303


def test_a_sign_in_without_its_csrf_token_is_403(browser: TestClient) -> None:
    browser.get("/console/sign-in")  # the cookie half of the pair
    answer = browser.post("/console/sign-in", data={"token": TOKEN}, follow_redirects=False)
    assert answer.status_code == 403
    assert SESSION_COOKIE not in answer.headers.get("set-cookie", "")


def test_a_sign_in_posted_from_elsewhere_is_403(browser: TestClient) -> None:
    # Another site can put a token in its form but cannot set the console's cookie.
    answer = browser.post(
        "/console/sign-in",
        data={"csrf": "a" * 43, "token": TOKEN},
        follow_redirects=False,
    )
    assert answer.status_code == 403


def test_a_form_without_the_csrf_token_is_403_and_changes_nothing(browser: TestClient) -> None:
    sign_in(browser)
    answer = browser.post("/console/sign-out", data={"next": "/"}, follow_redirects=False)
    assert answer.status_code == 403
    assert "CSRF" in answer.text
    assert browser.get("/console").status_code == 200  # still signed in


def test_a_form_with_another_sessions_csrf_token_is_403(browser: TestClient) -> None:
    sign_in(browser)
    other = TestClient(browser.app)
    other.portal = browser.portal
    sign_in(other)
    their_token = csrf_of(other.get("/console").text)
    answer = browser.post("/console/sign-out", data={"csrf": their_token}, follow_redirects=False)
    assert answer.status_code == 403


def test_signing_out_ends_the_session(browser: TestClient) -> None:
    sign_in(browser)
    session_id = browser.cookies.get(SESSION_COOKIE)
    page = browser.get("/console")
    answer = browser.post(
        "/console/sign-out", data={"csrf": csrf_of(page.text)}, follow_redirects=False
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/sign-in"
    # Even a client that kept the old cookie is signed out.
    browser.cookies.set(SESSION_COOKIE, session_id or "", path="/console")
    assert browser.get("/console", follow_redirects=False).status_code == 303


# ---------------------------------------------------------------- headers and local files


@pytest.mark.parametrize("path", ["/console/sign-in", "/console"])
def test_console_pages_carry_a_strict_content_security_policy(
    browser: TestClient, path: str
) -> None:
    sign_in(browser)
    answer = browser.get(path, follow_redirects=False)
    policy = answer.headers["content-security-policy"]
    assert policy == CONSOLE_CSP
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["cache-control"] == "no-store"


def test_the_api_answers_without_the_console_policy(client: TestClient) -> None:
    assert "content-security-policy" not in client.get("/api/v1/services").headers


class Assets(HTMLParser):
    """Every script, stylesheet, image and inline script or style of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        for name in ("src", "href"):
            value = found.get(name)
            if value and tag in ("script", "link", "img"):
                self.urls.append(value)
        if "style" in found:
            self.inline.append(f"style attribute on <{tag}>")
        if any(name.startswith("on") for name in found):
            self.inline.append(f"event handler on <{tag}>")
        self._in_script = tag == "script" and "src" not in found
        if tag == "style":
            self.inline.append("<style>")

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline.append("inline <script>")

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/console/sign-in", "/console"])
def test_pages_load_every_file_from_the_control_plane(browser: TestClient, path: str) -> None:
    sign_in(browser)
    page = browser.get(path)
    assert page.status_code == 200
    assets = Assets()
    assets.feed(page.text)
    assert assets.urls, "the page loads no file at all?"
    assert assets.inline == []
    for url in assets.urls:
        assert url.startswith("/") and not url.startswith("//"), url
        loaded = browser.get(url)
        assert loaded.status_code == 200, url
        assert loaded.content


def test_docs_pages_need_no_token_and_have_their_own_policy(browser: TestClient) -> None:
    for path in ("/docs", "/redoc"):
        answer = browser.get(path)
        assert answer.status_code == 200
        policy = answer.headers["content-security-policy"]
        assert "script-src 'self';" in policy
        assert "cdn" not in answer.text.lower()


def test_the_admin_port_root_leads_to_the_console(browser: TestClient) -> None:
    answer = browser.get("/", follow_redirects=False)
    assert answer.status_code == 307
    assert answer.headers["location"] == "/console"


# ---------------------------------------------------------------- sessions, pure


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_session_expires_after_its_lifetime() -> None:
    clock = Clock()
    sessions = ConsoleSessions(clock=clock, lifetime=60)
    session_id = sessions.open()
    clock.now += 59
    assert sessions.valid(session_id)
    clock.now += 1
    assert not sessions.valid(session_id)


def test_past_capacity_the_oldest_session_ends() -> None:
    sessions = ConsoleSessions(capacity=2)
    first, second = sessions.open(), sessions.open()
    third = sessions.open()
    assert not sessions.valid(first)
    assert sessions.valid(second) and sessions.valid(third)
    assert repr(sessions) == "<ConsoleSessions open=2 capacity=2>"


def test_csrf_tokens_belong_to_one_session() -> None:
    sessions = ConsoleSessions()
    one, two = sessions.open(), sessions.open()
    assert sessions.csrf_valid(one, sessions.csrf_token(one))
    assert not sessions.csrf_valid(one, sessions.csrf_token(two))
    assert not sessions.csrf_valid(one, None)
    assert not sessions.csrf_valid(one, "")


def test_an_overlong_cookie_is_not_looked_at() -> None:
    sessions = ConsoleSessions()
    assert not sessions.valid("a" * 10_000)
    sessions.close("a" * 10_000)  # no error
