"""`/config_dump` and `/stats` on the node's status port."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import pytest
from fleetgate_pb import sync_pb2

from data_plane.config.model import GatewayConfig
from data_plane.config.snapshot import build_snapshot
from data_plane.config_dump import REDACTED, candidate_dump, config_dump, redact
from data_plane.metrics import SampleSum, WorkerMetrics
from data_plane.stats import stats_document
from tests.data_plane.running_node import RunningNode, catch_all
from tests.data_plane.scripted_upstream import ScriptedUpstream

KEY = "sk-live-0123456789abcdef0123456789abcdef"
JWT_SECRET = "jwt-shared-secret-that-must-not-leak-0123456789"


def gateway(upstream: str) -> dict[str, Any]:
    config = catch_all(upstream)
    config["routes"].append(
        {"name": "keys", "paths": ["/keys/**"], "service": "app", "auth": {"methods": ["api_key"]}}
    )
    config["consumers"] = [{"name": "alice", "api_keys": [{"id": "main", "key": KEY}]}]
    return config


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory, upstream: ScriptedUpstream) -> Iterator[Any]:
    running = RunningNode(
        tmp_path_factory.mktemp("status-pages"),
        gateway(upstream.address),
        env={"FLEETGATE_ACCESS_LOG": "off"},
    )
    running.start()
    yield running
    running.stop()


def test_config_dump_shows_the_running_config_in_file_shape_with_key_hashes_redacted(
    node: Any, upstream: ScriptedUpstream
) -> None:
    status, body = node.status("/config_dump")
    assert status == 200
    dump = json.loads(body)
    ready = json.loads(node.status("/ready")[1])
    assert dump["candidate"] is None  # no rollout
    active = dump["active"]
    assert (active["version"], active["hash"]) == (ready["version"], ready["hash"])
    config = active["config"]
    assert [r["name"] for r in config["routes"]] == ["all", "keys"]
    assert config["services"] == [{"name": "app", "targets": [{"address": upstream.address}]}]
    assert config["consumers"][0]["api_keys"] == [{"id": "main", "hash": REDACTED}]
    text = body.decode()
    assert KEY not in text
    assert hashlib.sha256(KEY.encode()).hexdigest() not in text


def test_stats_group_the_counters_by_route_service_and_target(
    node: Any, scripted: ScriptedUpstream
) -> None:
    before = json.loads(node.status("/stats")[1])
    done = before["routes"].get("all", {}).get("2xx", 0)
    for _ in range(3):
        assert node.get("/x").status == 200
    assert node.get("/keys/x").status == 401
    status, body = node.status("/stats")
    assert status == 200
    stats = json.loads(body)
    assert stats["version"] == 1 and stats["ready"] is True and stats["workers"] == 1
    assert stats["routes"]["all"] == {"service": "app", "2xx": done + 3}
    assert stats["routes"]["keys"]["4xx"] == 1
    app = stats["services"]["app"]
    assert app["requests"] == done + 4
    assert app["p99_ms"] >= app["p50_ms"] > 0
    target = app["targets"][scripted.address]
    assert target["tries"] == done + 3 and target["failures"] == 0 and target["connections"] >= 1
    assert stats["figures"]["downstream_connections_total"] >= 4


def test_an_unknown_status_page_names_the_pages(node: Any) -> None:
    status, body = node.status("/nope")
    assert status == 404
    assert "/config_dump" in json.loads(body)["error"]["message"]


# ---------------------------------------------------------------- pure


def test_a_jwt_secret_and_a_certificate_key_never_appear_in_a_dump() -> None:
    config = GatewayConfig.model_validate(
        {
            "services": [{"name": "app", "targets": [{"address": "10.0.0.1:80"}]}],
            "routes": [
                {
                    "name": "jwt",
                    "paths": ["/**"],
                    "service": "app",
                    "auth": {
                        "methods": ["jwt"],
                        "jwt": {"algorithms": ["HS256"], "secret": JWT_SECRET},
                    },
                }
            ],
        }
    )
    dump = config_dump(build_snapshot(config, version=4))
    assert dump["version"] == 4
    assert dump["config"]["routes"][0]["auth"]["jwt"]["secret"] == REDACTED
    assert JWT_SECRET not in json.dumps(dump)


@pytest.mark.parametrize(
    ("selector", "shown"),
    [
        (sync_pb2.CandidateSelector(whole_node=True), {"whole_node": True}),
        (
            sync_pb2.CandidateSelector(header_name="x-canary", header_value="1"),
            {"header": {"name": "x-canary", "value": "1"}},
        ),
        (sync_pb2.CandidateSelector(percent=10), {"percent": 10, "by": "client_ip"}),
        (
            sync_pb2.CandidateSelector(
                percent=25, by=sync_pb2.CandidateSelector.COOKIE, by_name="session"
            ),
            {"percent": 25, "by": "cookie", "name": "session"},
        ),
    ],
)
def test_a_candidate_is_dumped_like_a_config_with_the_requests_it_serves(
    selector: sync_pb2.CandidateSelector, shown: dict[str, Any]
) -> None:
    snapshot = build_snapshot(GatewayConfig.model_validate(gateway("10.0.0.9:80")), version=7)
    dump = candidate_dump(snapshot, selector)
    assert dump == {**config_dump(snapshot), "selector": shown}
    assert dump["config"]["consumers"][0]["api_keys"] == [{"id": "main", "hash": REDACTED}]


def test_redaction_matches_field_names_whole_and_cuts_url_passwords() -> None:
    redacted = redact(
        {
            "hash_key": {"source": "header", "name": "X-User"},
            "key": "-----BEGIN PRIVATE KEY-----",
            "client_key": "pem",
            "url": "redis://user:hunter2@cache:6379/0",
            "contact": "ops@example.com",
            "list": [{"token": "t"}, {"password": None}],
        }
    )
    assert redacted == {
        "hash_key": {"source": "header", "name": "X-User"},
        "key": REDACTED,
        "client_key": REDACTED,
        "url": f"redis://user:{REDACTED}@cache:6379/0",
        "contact": "ops@example.com",
        "list": [{"token": REDACTED}, {"password": None}],
    }


def test_stats_of_two_workers_add_up() -> None:
    total = SampleSum()
    for _ in range(2):
        worker = WorkerMetrics()
        worker.route("all", "app").statuses[2] += 5
        worker.service("app").observe(0.002)
        worker.service("app").retries += 1
        worker.service("app").timeouts[1] += 1
        total.add(worker.samples())
    stats = stats_document(total, {"version": 3})
    assert stats["version"] == 3
    assert stats["routes"]["all"] == {"service": "app", "2xx": 10}
    app = stats["services"]["app"]
    assert (app["requests"], app["retries"], app["timeouts"]) == (2, 2, {"read": 2})
    assert app["mean_ms"] == pytest.approx(2.0)
