"""Blue/green rollouts end to end: a control plane, two labelled nodes, two upstreams.

The service `app` answers from the blue upstream in the active config and from the
green one in the candidate; the echo upstream names the address the node sent the
request to (`Host`), which tells the sides apart.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from control_plane.cli import main
from control_plane.rollouts.lifecycle import Rollouts
from control_plane.rollouts.spec import RolloutRequest
from control_plane.store.catalog import Catalog
from data_plane.config_dump import REDACTED

from .. import loopback_http
from ..conftest import open_store
from ..data_plane.scripted_upstream import Respond, ScriptedUpstream
from .fleet import ADMIN_TOKEN, ControlPlane, Node, running, until, upstream

pytestmark = pytest.mark.e2e

KEYS = 400  # distinct clients of the sticky share


@dataclass
class Fleet:
    tmp: Path
    db: str
    control_plane: ControlPlane
    blue_node: Node  # labelled group=blue
    green_node: Node  # labelled group=green
    blue: str  # the upstream of the active config
    green: str  # the upstream of the candidate

    @property
    def nodes(self) -> tuple[Node, Node]:
        return self.blue_node, self.green_node

    def config(self, target: str, **route: Any) -> dict[str, Any]:
        return {
            "services": [{"name": "app", "targets": [{"address": target}]}],
            "routes": [{"name": "app", "paths": ["/app/**"], "service": "app", **route}],
        }

    def admin(self) -> httpx.Client:
        return self.control_plane.admin()

    def start(self, selector: dict[str, Any], **body: Any) -> dict[str, Any]:
        body = {"config": self.config(self.green), "selector": selector, **body}
        with self.admin() as admin:
            answer = admin.post("/api/v1/rollouts", json=body)
        assert answer.status_code == 201, answer.text
        started: dict[str, Any] = answer.json()
        return started

    def current(self) -> dict[str, Any]:
        with self.admin() as admin:
            answer = admin.get("/api/v1/rollouts/current")
        answer.raise_for_status()
        current: dict[str, Any] = answer.json()
        return current

    def end(self, action: str) -> dict[str, Any]:
        with self.admin() as admin:
            answer = admin.post(f"/api/v1/rollouts/current/{action}")
        assert answer.status_code == 200, answer.text
        ended: dict[str, Any] = answer.json()
        return ended

    def serving(self, node_ids: tuple[str, ...] = ("edge-blue", "edge-green")) -> bool:
        """Whether the rollout's candidate is served by exactly these nodes."""
        nodes = {n["id"]: n["candidate"] for n in self.current()["nodes"]}
        return nodes == dict.fromkeys(node_ids, "serving")


def side(node: Node, fleet: Fleet, headers: dict[str, str] | None = None) -> str:
    """Which upstream answered a request through `node`: "blue" or "green"."""
    url = f"http://127.0.0.1:{node.port}/app/x"
    answer = loopback_http.get(url, headers=headers or {}, timeout=5.0)
    assert answer.status_code == 200, answer.text
    host = answer.json()["headers"]["host"]
    return {fleet.blue: "blue", fleet.green: "green"}[host]


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    tmp = tmp_path_factory.mktemp("rollout")
    db = f"sqlite:///{tmp / 'store.db'}"
    with upstream() as blue, upstream() as green:
        control_plane = ControlPlane(tmp, "cp", db)
        address = [control_plane.sync_address]
        nodes = [
            Node(tmp, f"edge-{group}", address, extra=("--label", f"group={group}"))
            for group in ("blue", "green")
        ]
        with running(*nodes, control_plane):
            control_plane.start().wait_healthy()
            built = Fleet(tmp, db, control_plane, nodes[0], nodes[1], blue, green)
            with built.admin() as admin:
                admin.put("/api/v1/config", json=built.config(blue)).raise_for_status()
            for node in nodes:
                node.start()
            for node in nodes:
                node.wait_ready()
            yield built


@pytest.fixture
def quiet(fleet: Fleet) -> Iterator[Fleet]:
    """The fleet with no rollout running, before and after the test."""
    yield fleet
    with fleet.admin() as admin:
        admin.post("/api/v1/rollouts/current/rollback")
        admin.put("/api/v1/config", json=fleet.config(fleet.blue)).raise_for_status()
    for node in fleet.nodes:
        if not node.alive():
            node.start()
        node.wait_ready()
    fleet.control_plane.wait_healthy()
    for node in fleet.nodes:
        until(lambda node=node: side(node, fleet) == "blue", f"{node.node_id} back on blue")


@contextlib.contextmanager
def load(nodes: tuple[Node, ...]) -> Iterator[list[int | str]]:
    """Requests through `nodes` on a thread until the block ends (at most 100,000)."""
    outcomes: list[int | str] = []
    done = threading.Event()

    def run() -> None:
        clients = [
            loopback_http.client(base_url=f"http://127.0.0.1:{n.port}", timeout=5.0) for n in nodes
        ]
        try:
            for i in range(100_000):
                if done.is_set():
                    return
                try:
                    outcomes.append(clients[i % len(clients)].get("/app/load").status_code)
                except httpx.HTTPError as exc:
                    outcomes.append(type(exc).__name__)
        finally:
            for client in clients:
                client.close()

    loader = threading.Thread(target=run)
    loader.start()
    try:
        until(lambda: len(outcomes) > 20, "the load running")
        yield outcomes
    finally:
        done.set()
        loader.join(30)


# ---------------------------------------------------------------- selectors


def test_a_header_selector_sends_only_requests_with_that_header_to_the_candidate(
    quiet: Fleet,
) -> None:
    fleet = quiet
    rollout = fleet.start({"header": {"name": "x-canary", "value": "1"}})
    assert rollout["state"] == "running"
    until(fleet.serving, "both nodes serving the candidate")
    for node in fleet.nodes:
        assert side(node, fleet, {"x-canary": "1"}) == "green"
        assert side(node, fleet, {"x-canary": "2"}) == "blue"
        assert side(node, fleet) == "blue"
    version = rollout["candidate_version"]
    until(
        lambda: f'"config":"candidate","version":{version}' in fleet.blue_node.log_tail(20_000),
        "the access log naming the candidate",
    )


def test_config_dump_shows_the_candidate_beside_the_active_config_redacted_alike(
    quiet: Fleet,
) -> None:
    fleet = quiet
    secret = "candidate-jwt-secret-0123456789abcdef"
    guarded = fleet.config(
        fleet.green, auth={"methods": ["jwt"], "jwt": {"algorithms": ["HS256"], "secret": secret}}
    )
    rollout = fleet.start({"header": {"name": "x-canary", "value": "1"}}, config=guarded)
    until(fleet.serving, "both nodes serving the candidate")
    node = fleet.blue_node
    answer = loopback_http.get(f"http://127.0.0.1:{node.status_port}/config_dump", timeout=5.0)
    assert answer.status_code == 200
    assert secret not in answer.text
    dump = answer.json()
    active, candidate = dump["active"], dump["candidate"]
    assert candidate["version"] == rollout["candidate_version"] != active["version"]
    assert candidate["selector"] == {"header": {"name": "x-canary", "value": "1"}}
    [route] = candidate["config"]["routes"]
    assert route["auth"]["jwt"]["secret"] == REDACTED
    assert candidate["config"]["services"][0]["targets"] == [{"address": fleet.green}]
    assert active["config"]["services"][0]["targets"] == [{"address": fleet.blue}]
    fleet.end("rollback")

    def candidate_gone() -> bool:
        url = f"http://127.0.0.1:{node.status_port}/config_dump"
        return loopback_http.get(url, timeout=5.0).json()["candidate"] is None

    until(candidate_gone, "the candidate gone from /config_dump")


def test_a_node_group_selector_sends_all_traffic_of_those_nodes_to_the_candidate(
    quiet: Fleet,
) -> None:
    fleet = quiet
    fleet.start({"nodes": {"group": "green"}})
    until(lambda: fleet.serving(("edge-green",)), "the green node serving the candidate")
    assert [side(fleet.green_node, fleet) for _ in range(5)] == ["green"] * 5
    assert [side(fleet.blue_node, fleet) for _ in range(5)] == ["blue"] * 5


def test_a_sticky_percentage_keeps_each_client_on_its_side_within_seven_points(
    quiet: Fleet,
) -> None:
    fleet = quiet
    fleet.start({"percent": 30, "by": "header:x-user"})
    until(fleet.serving, "both nodes serving the candidate")
    first = {key: side(fleet.blue_node, fleet, {"x-user": f"user-{key}"}) for key in range(KEYS)}
    share = sum(s == "green" for s in first.values()) / KEYS * 100
    assert 23 <= share <= 37, share
    for key in range(0, KEYS, 4):  # the same key, again and on the other node
        headers = {"x-user": f"user-{key}"}
        assert side(fleet.blue_node, fleet, headers) == first[key]
        assert side(fleet.green_node, fleet, headers) == first[key]


def test_a_sticky_percentage_by_cookie_and_by_client_address(quiet: Fleet) -> None:
    fleet = quiet
    fleet.start({"percent": 100, "by": "cookie:session"})
    until(fleet.serving, "both nodes serving the candidate")
    assert side(fleet.blue_node, fleet, {"cookie": "a=1; session=abc"}) == "green"
    assert side(fleet.blue_node, fleet) == "blue"  # no cookie: no key, active
    fleet.end("rollback")
    fleet.start({"percent": 100})
    # The same candidate as before the rollback: the inventory may show it served before
    # the node has the new selector, so the answer is awaited.
    until(fleet.serving, "both nodes serving the candidate")
    until(lambda: side(fleet.blue_node, fleet) == "green", "127.0.0.1 in the share")


# ---------------------------------------------------------------- promote and rollback


def test_promote_under_load_fails_no_request_and_the_candidate_serves_everyone(
    quiet: Fleet,
) -> None:
    fleet = quiet
    fleet.start({"header": {"name": "x-canary", "value": "1"}})
    until(fleet.serving, "both nodes serving the candidate")
    with load(fleet.nodes) as outcomes:
        promoted = fleet.end("promote")
        assert promoted["state"] == "promoted"
        for node in fleet.nodes:
            until(lambda node=node: side(node, fleet) == "green", f"{node.node_id} promoted")
    failures = [o for o in outcomes if o != 200]
    assert failures == [], f"{len(failures)} of {len(outcomes)} requests failed"
    version = promoted["candidate_version"]
    # The inventory learns of each ACK at its next flush: it follows the nodes shortly.
    until(
        lambda: (
            {fleet.control_plane.nodes()[n.node_id]["applied_version"] for n in fleet.nodes}
            == {version}
        ),
        "the inventory showing every node on the promoted version",
    )


def test_rollback_under_load_fails_no_request_and_the_candidate_is_gone(quiet: Fleet) -> None:
    fleet = quiet
    fleet.start({"percent": 100})
    until(fleet.serving, "both nodes serving the candidate")
    with load(fleet.nodes) as outcomes:
        assert fleet.end("rollback")["state"] == "rolled_back"
        for node in fleet.nodes:
            until(lambda node=node: side(node, fleet) == "blue", f"{node.node_id} rolled back")
    failures = [o for o in outcomes if o != 200]
    assert failures == [], f"{len(failures)} of {len(outcomes)} requests failed"
    # The rollout's node list follows the nodes' reports of dropping the candidate.
    until(lambda: fleet.current()["nodes"] == [], "no node listed as holding the candidate")


# ---------------------------------------------------------------- restarts and refusals


def test_a_node_restarted_mid_rollout_serves_both_again_even_without_the_control_plane(
    quiet: Fleet,
) -> None:
    fleet = quiet
    fleet.start({"header": {"name": "x-canary", "value": "1"}})
    until(fleet.serving, "both nodes serving the candidate")
    fleet.control_plane.stop()
    node = fleet.blue_node
    node.stop()
    node.start().wait_ready()  # from its disk cache: no control plane answers
    assert side(node, fleet, {"x-canary": "1"}) == "green"
    assert side(node, fleet) == "blue"
    fleet.control_plane.start().wait_healthy()
    until(fleet.serving, "both nodes reported serving the candidate")
    assert side(node, fleet, {"x-canary": "1"}) == "green"


def test_a_control_plane_restarted_mid_rollout_carries_it_on(quiet: Fleet) -> None:
    fleet = quiet
    started = fleet.start({"header": {"name": "x-canary", "value": "1"}})
    until(fleet.serving, "both nodes serving the candidate")
    fleet.control_plane.stop()
    fleet.control_plane.start().wait_healthy()
    assert fleet.current()["id"] == started["id"]
    assert fleet.current()["state"] == "running"
    until(
        lambda: fleet.control_plane.metric("fleetgate_sync_connected_nodes") == 2,
        "both nodes reconnected",
    )
    assert side(fleet.green_node, fleet, {"x-canary": "1"}) == "green"
    fleet.end("promote")
    for node in fleet.nodes:
        until(lambda node=node: side(node, fleet) == "green", f"{node.node_id} promoted")


def test_a_candidate_a_node_refuses_leaves_it_on_active_and_shows_in_the_rollout(
    quiet: Fleet,
) -> None:
    fleet = quiet
    # The API refuses a candidate the connected nodes cannot serve; this one comes from a
    # writer that did not ask (a replica of an older build). `cache` is a policy no node
    # implements yet.
    body = {
        "config": fleet.config(fleet.green, cache={"ttl": 5}),
        "selector": {"header": {"name": "x-canary", "value": "1"}},
    }
    with open_store(fleet.db) as db, db.session() as session:
        Rollouts(Catalog(session, actor="older-replica")).start(RolloutRequest.model_validate(body))
    refused = until(
        lambda: [n for n in fleet.current()["nodes"] if n["candidate"] == "refused"] or None,
        "the nodes refusing the candidate",
    )
    until(lambda: len(fleet.current()["nodes"]) == 2, "both nodes refusing the candidate")
    for node in fleet.current()["nodes"]:
        assert node["candidate"] == "refused"
        assert "policy.cache" in node["error"]
    assert refused
    for node in fleet.nodes:
        assert side(node, fleet, {"x-canary": "1"}) == "blue"


# ---------------------------------------------------------------- the gate


def drive(fleet: Fleet, timeout: float = 60.0) -> dict[str, Any]:
    """Requests from many clients through both nodes until the rollout ends; the rollout."""
    deadline = time.monotonic() + timeout
    with loopback_http.client(timeout=5.0) as client:
        for i in range(100_000):
            node = fleet.nodes[i % 2]
            client.get(f"http://127.0.0.1:{node.port}/app/x", headers={"x-user": f"u{i}"})
            if i % 20 == 0:
                rollout = fleet.current()
                if rollout["state"] != "running":
                    return rollout
            assert time.monotonic() < deadline, f"the gate did not decide: {fleet.current()}"
    raise AssertionError("the gate did not decide within 100,000 requests")


def test_the_gate_rolls_back_a_candidate_whose_upstream_answers_500_with_a_reason(
    quiet: Fleet,
) -> None:
    fleet = quiet
    with ScriptedUpstream(lambda request: Respond(status=500, body=b"broken")) as broken:
        fleet.start(
            {"percent": 50, "by": "header:x-user"},
            config=fleet.config(f"127.0.0.1:{broken.port}"),
            gate={"soak": 300, "min_requests": 20, "max_p99_ratio": 100},
        )
        until(fleet.serving, "both nodes serving the candidate")
        started = time.monotonic()
        ended = drive(fleet)
        assert time.monotonic() - started < 30
    assert ended["state"] == "rolled_back"
    assert ended["reason"].startswith("gate: candidate 5xx rate")
    assert ended["figures"]["candidate"]["requests"] >= 20
    assert ended["figures"]["candidate"]["error_rate"] > 0.5
    assert ended["figures"]["active"]["error_rate"] == 0.0
    for node in fleet.nodes:
        until(lambda node=node: fleet.current()["nodes"] == [], "the candidate dropped")
        assert side(node, fleet, {"x-user": "anyone"}) == "blue"


def test_the_gate_promotes_a_healthy_candidate_after_its_soak(quiet: Fleet) -> None:
    fleet = quiet
    fleet.start(
        {"percent": 50, "by": "header:x-user"},
        gate={"soak": 3, "min_requests": 20, "max_p99_ratio": 100},
    )
    until(fleet.serving, "both nodes serving the candidate")
    ended = drive(fleet)
    assert ended["state"] == "promoted"
    assert ended["reason"].startswith("gate: within bounds")
    assert ended["ended_by"] == "gate"
    for node in fleet.nodes:
        until(lambda node=node: side(node, fleet) == "green", f"{node.node_id} promoted")


# ---------------------------------------------------------------- the CLI


def cli(fleet: Fleet, *argv: str) -> int:
    admin = f"http://127.0.0.1:{fleet.control_plane.admin_port}"
    return main(["rollout", *argv, "--admin-url", admin, "--token", ADMIN_TOKEN])


def test_the_cli_starts_watches_and_promotes_a_rollout_with_both_sides_figures(
    quiet: Fleet, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet = quiet
    candidate = fleet.tmp / "candidate.yaml"
    candidate.write_text(yaml.safe_dump(fleet.config(fleet.green)))
    code = cli(fleet, "start", "-f", str(candidate), "--header", "x-canary=1", "--soak", "600")
    out = capsys.readouterr().out
    assert code == 0, out
    assert "running" in out and "requests with x-canary: 1" in out
    until(fleet.serving, "both nodes serving the candidate")
    for i in range(30):
        side(fleet.nodes[i % 2], fleet, {"x-canary": "1"} if i % 3 == 0 else None)
    until(
        lambda: fleet.current()["figures"]["candidate"]["requests"] >= 10,
        "the candidate's figures reported",
    )
    assert cli(fleet, "status") == 0
    status = capsys.readouterr().out
    # Nodes report every 2 s: the figures hold at least what this test sent.
    candidate = re.search(r"^candidate\s+(\d+)\s+0\.0000\s+\d", status, re.M)
    active = re.search(r"^active\s+(\d+)\s+0\.0000\s+\d", status, re.M)
    assert candidate and active, status
    assert int(candidate[1]) >= 10 and int(active[1]) >= 1, status
    assert "gate verdict so far: wait: " in status
    assert cli(fleet, "promote") == 0
    assert "promoted by fleetgate-cli" in capsys.readouterr().out


def test_the_cli_names_what_the_admin_api_refused(
    quiet: Fleet, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet = quiet
    assert cli(fleet, "rollback") == 1
    assert "no_rollout_running" in capsys.readouterr().err
    assert cli(fleet, "start", "--release", "1", "--percent", "150") == 1
    assert "selector.percent" in capsys.readouterr().err
    assert cli(fleet, "start", "--release", "1", "--header", "x-canary") == 1
    assert "--header: expected NAME=VALUE" in capsys.readouterr().err
