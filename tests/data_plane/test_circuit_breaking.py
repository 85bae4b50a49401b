"""Circuit breakers on real processes: a dead target, a target that never answers, every
target down, recovery through half-open, and a service with nothing to send to
(DESIGN.md, "Resilience"; issue 13, point 2 and its faults).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.conftest import free_port
from tests.data_plane.running_node import Response, RunningNode
from tests.data_plane.scripted_upstream import CloseAtHead, Respond, ScriptedUpstream, Silence

pytestmark = pytest.mark.e2e

POLL = 10.0  # seconds a test waits for a breaker's timed change at most


@pytest.fixture(scope="module")
def other() -> Iterator[ScriptedUpstream]:
    """A second upstream: the one that fails while `upstream` carries the load."""
    with ScriptedUpstream() as server:
        yield server


@pytest.fixture
def failing(other: ScriptedUpstream) -> Iterator[ScriptedUpstream]:
    other.script = lambda r: Respond()
    other.clear()
    yield other
    other.script = lambda r: Respond()


@pytest.fixture(scope="module")
def dead() -> str:
    """An address nothing listens on."""
    return f"127.0.0.1:{free_port()}"


@pytest.fixture(scope="module")
def node(
    upstream: ScriptedUpstream,
    other: ScriptedUpstream,
    dead: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RunningNode]:
    breaker = {"failure_threshold": 3, "recovery_time": 0.5, "half_open_requests": 1}
    config = {
        "services": [
            {
                "name": "dead",
                "targets": [{"address": upstream.address}, {"address": dead}],
                "circuit_breaker": {**breaker, "recovery_time": 3600},
            },
            {
                "name": "silent",
                "targets": [{"address": upstream.address}, {"address": other.address}],
                "timeouts": {"read": 0.3},
                "circuit_breaker": {**breaker, "recovery_time": 3600},
            },
            {
                "name": "alone",
                "targets": [{"address": other.address}],
                "circuit_breaker": breaker,
            },
            {"name": "drained", "targets": [{"address": upstream.address, "weight": 0}]},
        ],
        "routes": [
            {"name": name, "paths": [f"/{name}/**"], "service": name}
            for name in ("dead", "silent", "alone", "drained")
        ],
    }
    running = RunningNode(tmp_path_factory.mktemp("node"), config).start()
    yield running
    running.stop()


def statuses(node: RunningNode, path: str, count: int) -> list[int]:
    return [node.get(path).status for _ in range(count)]


def breaker_state(node: RunningNode, service: str, address: str) -> str:
    for state in ("closed", "open", "half_open"):
        labels = {"service": service, "target": address, "state": state}
        if node.metric("fleetgate_target_breaker", **labels):
            return state
    return ""


def test_errors_stop_after_failure_threshold_failures_of_a_dead_target(
    node: RunningNode, scripted: ScriptedUpstream, dead: str
) -> None:
    answers = statuses(node, "/dead/x", 40)
    assert answers.count(502) == 3
    assert answers[-30:] == [200] * 30
    assert breaker_state(node, "dead", dead) == "open"
    assert node.metric("fleetgate_target_failures_total", service="dead", target=dead) == 3
    assert f"service dead target {dead}: circuit breaker closed -> open" in node.log()


def test_read_timeouts_open_the_breaker_of_a_target_that_never_answers(
    node: RunningNode, scripted: ScriptedUpstream, failing: ScriptedUpstream
) -> None:
    failing.script = lambda r: Silence()
    answers = statuses(node, "/silent/x", 30)
    assert answers.count(504) == 3
    assert answers[-20:] == [200] * 20
    assert breaker_state(node, "silent", failing.address) == "open"
    assert len(failing.received()) == 3  # nothing more went to it


def test_with_every_breaker_open_the_answer_is_503_at_once_without_connecting(
    node: RunningNode, failing: ScriptedUpstream
) -> None:
    poll_until_ok(node, "/alone/x")  # closed, whatever the tests before did
    failing.script = lambda r: CloseAtHead()
    assert statuses(node, "/alone/x", 3) == [502] * 3
    connections = failing.connections
    response = node.get("/alone/x")
    assert response.status == 503
    assert response.json()["error"]["code"] == "circuit_open"
    assert response.header("Retry-After") == "1"
    assert failing.connections == connections  # no connect attempt while it is open


def test_a_target_that_recovers_is_closed_by_a_successful_trial(
    node: RunningNode, failing: ScriptedUpstream
) -> None:
    poll_until_ok(node, "/alone/x")
    failing.script = lambda r: CloseAtHead()
    assert statuses(node, "/alone/x", 3) == [502] * 3
    assert node.get("/alone/x").status == 503
    failing.script = lambda r: Respond()
    response = poll_until_ok(node, "/alone/x")
    assert response.status == 200
    assert statuses(node, "/alone/x", 5) == [200] * 5
    assert breaker_state(node, "alone", failing.address) == "closed"
    assert "circuit breaker half_open -> closed" in node.log()


def test_a_failed_trial_opens_the_breaker_again(
    node: RunningNode, failing: ScriptedUpstream
) -> None:
    poll_until_ok(node, "/alone/x")
    failing.script = lambda r: CloseAtHead()
    assert statuses(node, "/alone/x", 3) == [502] * 3
    seen = failing.connections
    deadline = time.monotonic() + POLL
    while failing.connections == seen and time.monotonic() < deadline:
        assert node.get("/alone/x").status in (502, 503)
        time.sleep(0.05)
    assert failing.connections == seen + 1  # the one trial
    assert node.get("/alone/x").status == 503
    assert "circuit breaker half_open -> open for 1 s" in node.log()
    failing.script = lambda r: Respond()
    poll_until_ok(node, "/alone/x")


def test_a_service_whose_targets_are_all_drained_answers_503(
    node: RunningNode, scripted: ScriptedUpstream
) -> None:
    response = node.get("/drained/x")
    assert response.status == 503
    assert response.json()["error"]["code"] == "no_healthy_target"
    assert response.header("Retry-After") == "1"
    assert scripted.received() == []


def poll_until_ok(node: RunningNode, path: str) -> Response:
    deadline = time.monotonic() + POLL
    while time.monotonic() < deadline:
        response = node.get(path)
        if response.status == 200:
            return response
        assert response.status in (502, 503)
        time.sleep(0.05)
    raise AssertionError(f"{path} did not answer 200 within {POLL} s")


def test_each_worker_opens_its_own_breaker_so_errors_stop_within_workers_x_threshold(
    upstream: ScriptedUpstream, dead: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    config = {
        "services": [
            {
                "name": "app",
                "targets": [{"address": upstream.address}, {"address": dead}],
                "circuit_breaker": {"failure_threshold": 2, "recovery_time": 3600},
            }
        ],
        "routes": [{"name": "app", "paths": ["/**"], "service": "app"}],
    }
    node = RunningNode(tmp_path_factory.mktemp("two"), config, workers=2).start()
    try:
        node.wait_workers(2)
        answers = statuses(node, "/x", 80)  # a new connection each: both workers serve
        assert 2 <= answers.count(502) <= 2 * 2
        assert answers[-40:] == [200] * 40
        assert (
            node.metric("fleetgate_target_breaker", service="app", target=dead, state="open") == 2
        )
    finally:
        node.stop()
