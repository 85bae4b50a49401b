"""The console's rollout page: start one from a file or a release, promote, roll back."""

from __future__ import annotations

import re
from html import unescape

import pytest
import yaml
from fastapi.testclient import TestClient

from control_plane.plane import ControlPlane

from .conftest import SEED, ok, settle
from .test_console_security import csrf_of, sign_in

CANDIDATE = {**SEED, "services": [{**SEED["services"][0], "retries": 3}]}


@pytest.fixture
def browser(anonymous: TestClient) -> TestClient:
    return sign_in(anonymous)


def start(browser: TestClient, **fields: str) -> object:
    token = csrf_of(browser.get("/console/rollout").text)
    form = {"candidate": "config", "selector": "percent", "percent": "10", **fields}
    return browser.post("/console/rollout", data={"csrf": token, **form}, follow_redirects=False)


def press(browser: TestClient, action: str) -> object:
    token = csrf_of(browser.get("/console/rollout").text)
    return browser.post(f"/console/rollout/{action}", data={"csrf": token}, follow_redirects=False)


def error_of(html: str, part: str) -> str:
    found = re.search(rf'<p class="error" id="error-{part}">(.*?)</p>', html, re.S)
    assert found is not None, f"no error beside {part}"
    return unescape(found.group(1))


def test_a_pasted_config_starts_a_rollout_that_is_promoted(
    seeded: TestClient, browser: TestClient, plane: ControlPlane
) -> None:
    answer = start(browser, config=yaml.safe_dump(CANDIDATE), by="header:x-user")
    assert answer.status_code == 303, answer.text  # type: ignore[attr-defined]
    current = ok(seeded.get("/api/v1/rollouts/current"))
    assert current["state"] == "running"
    assert current["selector"] == {"percent": 10, "by": "header:x-user"}
    page = browser.get("/console/rollout")
    assert 'id="rollout-state" class="state-running">running</span>' in page.text
    assert 'data-side="candidate"' in page.text
    assert "Promote v2" in page.text and "Start the rollout" not in page.text
    figures = browser.get("/console/rollout/current.json").json()["rollout"]["figures"]
    assert set(figures) == {"active", "candidate"}
    assert press(browser, "promote").status_code == 303  # type: ignore[attr-defined]
    assert ok(seeded.get("/api/v1/rollouts/current"))["state"] == "promoted"
    settle(seeded, plane)
    assert ok(seeded.get("/api/v1/services/users"))["retries"] == 3


def test_a_release_rollout_is_rolled_back(seeded: TestClient, browser: TestClient) -> None:
    ok(seeded.patch("/api/v1/services/users", json={"retries": 5}))
    answer = start(browser, candidate="release", release="1", selector="nodes", nodes="group=green")
    assert answer.status_code == 303, answer.text  # type: ignore[attr-defined]
    assert ok(seeded.get("/api/v1/rollouts/current"))["selector"] == {"nodes": {"group": "green"}}
    assert press(browser, "rollback").status_code == 303  # type: ignore[attr-defined]
    assert ok(seeded.get("/api/v1/rollouts/current"))["state"] == "rolled_back"
    assert ok(seeded.get("/api/v1/services/users"))["retries"] == 5


@pytest.mark.parametrize(
    ("fields", "part", "message"),
    [
        ({"config": ""}, "config", "paste or upload the candidate's file"),
        ({"config": "services: ["}, "config", "not valid YAML or JSON"),
        ({"config": yaml.safe_dump(SEED)}, "config", "equals the active config"),
        ({"candidate": "release", "release": "1"}, "release", "equals the active config"),
        ({"config": yaml.safe_dump(CANDIDATE), "percent": "200"}, "selector", "100"),
        ({"config": yaml.safe_dump(CANDIDATE), "by": "nope"}, "selector", "client_ip"),
        ({"config": yaml.safe_dump(CANDIDATE), "gate": "on", "soak": "-1"}, "gate", "soak"),
    ],
)
def test_a_refused_rollout_names_the_part_of_the_form(
    seeded: TestClient, browser: TestClient, fields: dict[str, str], part: str, message: str
) -> None:
    answer = start(browser, **fields)
    assert answer.status_code == 422, answer.text  # type: ignore[attr-defined]
    assert message in error_of(answer.text, part)  # type: ignore[attr-defined]
    assert seeded.get("/api/v1/rollouts/current").status_code == 404


def test_while_a_rollout_runs_entity_forms_say_so(seeded: TestClient, browser: TestClient) -> None:
    assert start(browser, config=yaml.safe_dump(CANDIDATE)).status_code == 303  # type: ignore[attr-defined]
    token = csrf_of(browser.get("/console/tiers/new").text)
    answer = browser.post(
        "/console/tiers/new", data={"csrf": token, "name": "FREE"}, follow_redirects=False
    )
    assert answer.status_code == 409
    assert "rollout" in answer.text
    second = start(browser, config=yaml.safe_dump(CANDIDATE))
    assert second.status_code == 409  # type: ignore[attr-defined]


def test_rollout_forms_need_their_csrf_token(seeded: TestClient, browser: TestClient) -> None:
    for action in ("", "/promote", "/rollback"):
        answer = browser.post(
            f"/console/rollout{action}", data={"candidate": "release"}, follow_redirects=False
        )
        assert answer.status_code == 403
    assert seeded.get("/api/v1/rollouts/current").status_code == 404


def test_the_rollout_page_needs_a_session(anonymous: TestClient) -> None:
    for path in ("/console/rollout", "/console/rollout/current.json"):
        answer = anonymous.get(path, follow_redirects=False)
        assert answer.status_code == 303
