"""The node's /metrics: workers' plain counters, added up in the supervisor and rendered by
prometheus-client; read back here with prometheus-client's own parser."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from data_plane import metrics
from data_plane.metrics import LATENCY_BOUNDS, SampleSum, WorkerMetrics
from data_plane.metrics_text import render
from tests.conftest import free_port
from tests.data_plane.running_node import RunningNode, catch_all
from tests.data_plane.scripted_upstream import ScriptedUpstream


def parse(text: str) -> dict[str, Any]:
    """Families by name, from the text exposition format (strict: a bad line raises)."""
    return {family.name: family for family in text_string_to_metric_families(text)}


def value(families: dict[str, Any], sample: str, **labels: str) -> float:
    name = sample
    for suffix in ("_total", "_bucket", "_count", "_sum"):
        name = name.removesuffix(suffix)
    family = families[name]
    found = [s.value for s in family.samples if s.name == sample and s.labels == labels]
    assert len(found) == 1, (sample, labels, family.samples)
    return float(found[0])


def worker_with_traffic(requests: int, seconds: float) -> WorkerMetrics:
    worker = WorkerMetrics()
    route = worker.route("all", "app")
    route.statuses[2] += requests
    service = worker.service("app")
    for _ in range(requests):
        service.observe(seconds)
    target = worker.target("app", "10.0.0.1:80")
    target.tries += 2
    target.failures += 1
    target.open = 2
    return worker


def test_two_workers_add_up_and_render_through_prometheus_client() -> None:
    total = SampleSum()
    total.add(worker_with_traffic(3, 0.0002).samples())
    total.add(worker_with_traffic(2, 0.003).samples())
    total.set("fleetgate_config_version", {}, 7)
    families = parse(render(total).decode())
    labels = {"route": "all", "service": "app", "code": "2xx"}
    assert value(families, "fleetgate_requests_total", **labels) == 5
    duration = "fleetgate_request_duration_seconds"
    assert value(families, duration + "_bucket", service="app", le="0.0001") == 0
    assert value(families, duration + "_bucket", service="app", le="0.00025") == 3
    assert value(families, duration + "_bucket", service="app", le="0.005") == 5
    assert value(families, duration + "_bucket", service="app", le="+Inf") == 5
    assert value(families, duration + "_count", service="app") == 5
    assert value(families, duration + "_sum", service="app") == pytest.approx(0.0066)
    target = {"service": "app", "target": "10.0.0.1:80"}
    assert value(families, "fleetgate_target_tries_total", **target) == 4
    assert value(families, "fleetgate_target_failures_total", **target) == 2
    assert value(families, "fleetgate_target_connections", **target) == 4
    assert value(families, "fleetgate_config_version") == 7
    assert families["fleetgate_requests"].type == "counter"
    assert families[duration].type == "histogram"
    assert families["fleetgate_target_connections"].type == "gauge"


def test_the_summary_counts_every_route_and_service_also_those_added_since_the_last() -> None:
    worker = WorkerMetrics()
    worker.route("a", "s").statuses[2] += 3
    worker.service("s").buckets[0] += 3
    first = worker.summary()
    assert (first["requests"], first["errors"], first["buckets"][0]) == (3, 0, 3)
    worker.route("a", "s").statuses[5] += 1
    worker.route("b", "t").statuses[5] += 2
    worker.route("b", "t").statuses[4] += 1
    worker.service("t").buckets[-1] += 4
    worker.service("s").buckets[0] += 1
    second = worker.summary()
    assert (second["requests"], second["errors"]) == (7, 3)
    assert second["buckets"][0] == 4 and second["buckets"][-1] == 4
    assert sum(second["buckets"]) == 8
    assert WorkerMetrics().summary()["buckets"] == [0] * (len(LATENCY_BOUNDS) + 1)


def test_the_latency_buckets_start_below_a_millisecond() -> None:
    assert LATENCY_BOUNDS[:4] == (0.0001, 0.00025, 0.0005, 0.001)
    assert list(LATENCY_BOUNDS) == sorted(LATENCY_BOUNDS)


def test_a_family_added_to_families_is_rendered_with_its_help(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(
        metrics.FAMILIES, "fleetgate_example_total", ("counter", "An example family.")
    )
    total = SampleSum()
    total.add({"values": [["fleetgate_example_total", {"kind": "a"}, 2]]})
    total.add({"values": [["fleetgate_example_total", {"kind": "a"}, 3]]})
    text = render(total).decode()
    assert "# HELP fleetgate_example_total An example family." in text
    assert value(parse(text), "fleetgate_example_total", kind="a") == 5


def test_a_sample_of_a_family_not_in_families_is_not_rendered() -> None:
    total = SampleSum()
    total.set("fleetgate_unknown", {}, 1)
    assert b"fleetgate_unknown" not in render(total)


def test_label_values_are_escaped() -> None:
    total = SampleSum()
    total.set("fleetgate_config_info", {"hash": 'a"b\\c\nd'}, 1)
    assert value(parse(render(total).decode()), "fleetgate_config_info", hash='a"b\\c\nd') == 1


# ---------------------------------------------------------------- a real node


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory, upstream: ScriptedUpstream) -> Iterator[Any]:
    dead = f"127.0.0.1:{free_port()}"
    config = catch_all(upstream.address)
    config["services"].append({"name": "gone", "targets": [{"address": dead}]})
    config["routes"].insert(0, {"name": "gone", "paths": ["/gone/**"], "service": "gone"})
    running = RunningNode(
        tmp_path_factory.mktemp("metrics"),
        config,
        workers=2,
        env={"FLEETGATE_ACCESS_LOG": "off"},
    )
    running.start()
    running.dead = dead  # type: ignore[attr-defined]
    yield running
    running.stop()


def test_a_node_s_metrics_parse_and_count_every_answer(
    node: Any, scripted: ScriptedUpstream
) -> None:
    before = parse(node.metrics())
    ok = {"route": "all", "service": "app", "code": "2xx"}
    start = value(before, "fleetgate_requests_total", **ok) if "fleetgate_requests" in before else 0
    for _ in range(10):
        assert node.get("/x").status == 200
    assert node.get("/gone/x").status == 502
    families = parse(node.metrics())
    assert value(families, "fleetgate_requests_total", **ok) == start + 10
    gone = {"route": "gone", "service": "gone", "code": "5xx"}
    assert value(families, "fleetgate_requests_total", **gone) == 1
    duration = "fleetgate_request_duration_seconds"
    assert value(families, duration + "_count", service="app") == start + 10
    assert value(families, duration + "_bucket", service="app", le="0.0001") >= 0
    app_target = {"service": "app", "target": scripted.address}
    assert value(families, "fleetgate_target_tries_total", **app_target) == start + 10
    assert value(families, "fleetgate_target_failures_total", **app_target) == 0
    assert value(families, "fleetgate_target_connections", **app_target) >= 1
    dead_target = {"service": "gone", "target": node.dead}
    assert value(families, "fleetgate_target_failures_total", **dead_target) >= 1
    assert value(families, "fleetgate_target_failures_total", **dead_target) == value(
        families, "fleetgate_target_tries_total", **dead_target
    )
    assert value(families, "fleetgate_config_version") == 1
    assert value(families, "fleetgate_config_apply_seconds") > 0
    assert value(families, "fleetgate_config_applied_timestamp_seconds") > 1.7e9
    assert value(families, "fleetgate_workers") == 2


def test_metrics_come_with_prometheus_client_s_content_type(node: Any) -> None:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{node.status_port}/metrics", timeout=5) as r:
        assert r.headers["Content-Type"].startswith("text/plain; version=")
