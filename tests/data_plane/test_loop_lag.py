"""The loop-lag probe: how late a worker's timers fire, as a histogram on /metrics."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from data_plane.worker import probe_interval
from tests.data_plane.running_node import RunningNode
from tests.data_plane.scripted_upstream import ScriptedUpstream


def test_the_probe_interval_is_bounded() -> None:
    assert probe_interval({}) == 0.0
    assert probe_interval({"FLEETGATE_LOOP_PROBE_INTERVAL": "0.001"}) == 0.001
    for refused in ("0", "-1", "0.0001", "2", "nan", "x", "inf"):
        assert probe_interval({"FLEETGATE_LOOP_PROBE_INTERVAL": refused}) == 0.0


@pytest.mark.e2e
def test_a_worker_reports_its_loop_lag_and_benches_can_probe_finer(
    tmp_path: Path, upstream: ScriptedUpstream
) -> None:
    config = {
        "services": [{"name": "app", "targets": [{"address": upstream.address}]}],
        "routes": [{"name": "all", "paths": ["/**"], "service": "app"}],
    }
    counts = {}
    for name, env in (("tick", {}), ("probe", {"FLEETGATE_LOOP_PROBE_INTERVAL": "0.002"})):
        (tmp_path / name).mkdir()
        node = RunningNode(tmp_path / name, config, env=env)
        node.start()
        try:
            node.wait_workers(1)
            deadline = time.monotonic() + 20
            count = 0.0
            while count < 5 and time.monotonic() < deadline:
                time.sleep(0.1)
                count = node.metric("fleetgate_worker_loop_lag_seconds_count")
            started = time.monotonic()
            time.sleep(1.0)
            later = node.metric("fleetgate_worker_loop_lag_seconds_count")
            counts[name] = (later - count) / (time.monotonic() - started)
            assert node.metric("fleetgate_worker_loop_lag_seconds_bucket", le="+Inf") >= later
        finally:
            node.stop()
    # Ten ticks a second, against hundreds of probes.
    assert 3 <= counts["tick"] <= 15, counts
    assert counts["probe"] >= 5 * counts["tick"], counts
