"""The swap-under-load bench's own logic: one route per change, the lag read off buckets."""

from __future__ import annotations

import pytest
from fleetgate_pb import config_pb2

from bench.sync import swap_load
from bench.sync.__main__ import print_swap_load
from bench.sync.swap_load import PATH, Releases, _lag_diff, _max_bucket_ms, gateway
from data_plane.config.validate import check_snapshot


def test_each_change_moves_exactly_one_route_and_never_the_measured_one() -> None:
    previous = gateway(300, "127.0.0.1:1")
    for changed in range(1, 150):
        current = gateway(300, "127.0.0.1:1", changed)
        differ = [
            a["name"] for a, b in zip(previous["routes"], current["routes"], strict=True) if a != b
        ]
        assert differ == ([] if changed - 1 == 100 else [f"route-{changed - 1}"])
        assert current["routes"][100]["paths"] == ["/api/team-3/svc-100/**"]
        assert PATH.startswith("/api/team-3/svc-100/")
        previous = current


def test_the_longest_lag_is_the_highest_bucket_reached() -> None:
    before = {"0.001": 5.0, "0.01": 5.0, "0.025": 5.0, "+Inf": 5.0}
    after = {"0.001": 9.0, "0.01": 10.0, "0.025": 11.0, "+Inf": 11.0}
    assert _max_bucket_ms(_lag_diff(before, after)) == 25.0
    assert _max_bucket_ms(_lag_diff(before, before)) == 1.0


def test_each_pushed_release_moves_one_route_and_has_a_hash_of_its_own() -> None:
    releases = Releases(300, "127.0.0.1:1")
    version, digest, payload = releases.payload()
    previous = config_pb2.Snapshot.FromString(payload)
    hashes = {digest}
    for _ in range(120):
        releases.move_one()
        version, digest, payload = releases.payload()
        current = config_pb2.Snapshot.FromString(payload)
        assert version == previous.version + 1 and len(digest) == 64
        hashes.add(digest)
        differ = [a.name for a, b in zip(previous.routes, current.routes, strict=True) if a != b]
        assert len(differ) == 1 and differ != ["route-100"]
        assert check_snapshot(current) == []
        previous = current
    releases.change_all()
    current = config_pb2.Snapshot.FromString(releases.payload()[2])
    moved = [a.name for a, b in zip(previous.routes, current.routes, strict=True) if a != b]
    # every route moved but the one the paced client requests
    assert len(moved) == len(current.routes) - 1 and "route-100" not in moved
    assert check_snapshot(current) == []
    assert len(hashes) == 121


def test_cpu_per_change_is_what_the_node_spent_less_its_idle_rate(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    readings = iter([({1: 10.0}, {2: 20.0, 3: 5.0}), ({1: 10.5}, {2: 20.8, 3: 5.2})])
    clock = iter([100.0, 102.0])
    monkeypatch.setattr(swap_load, "_children", lambda supervisor: [2, 3])
    monkeypatch.setattr(swap_load.time, "monotonic", lambda: next(clock))
    cpu = swap_load._NodeCpu(1)
    monkeypatch.setattr(cpu, "_read", lambda: next(readings))
    cpu.start()
    # 2 s: 0.5 s of the supervisor's, 1.0 s of the workers'; idle, they spend 0.05 and 0.1
    # s per second: 0.4 and 0.8 s for 100 changes.
    supervisor, workers = cpu.per_change(100, (0.05, 0.1))
    assert abs(supervisor - 0.004) < 1e-9 and abs(workers - 0.008) < 1e-9


def test_the_printed_figures_keep_their_lines_and_add_the_cpu_per_change(
    capsys: pytest.CaptureFixture[str],
) -> None:
    side = {
        "requests": 10000,
        "failures": 0,
        "p50_ms": 0.8,
        "p99_ms": 1.3,
        "max_ms": 9.0,
        "loop_lag_max_le_ms": 5.0,
        "loop_lags_over_10ms": 0.0,
    }
    figures = {
        "routes": 10000,
        "rate": 1000,
        "steady": side,
        "changing": side,
        "push_to_ack_idle_median_ms": 20.0,
        "push_to_ack_idle_max_ms": 25.0,
        "push_to_ack_loaded_median_ms": 22.0,
        "push_to_ack_loaded_max_ms": 30.0,
        "full_apply_median_ms": 300.0,
        "full_push_to_ack_median_ms": 310.0,
        "full_compiles": 3,
        "full_loaded_apply_median_ms": 320.0,
        "full_loaded_push_to_ack_median_ms": 330.0,
        "full_loaded": {**side, "p99_ms": 2.5, "max_ms": 12.0},
        "memory_changes": 100,
        "worker_rss_after_first_mb": 75.0,
        "worker_rss_after_last_mb": 75.5,
        "worker_rss_after_twice_mb": 75.4,
        "cpu_changes": 200,
        "cpu_per_change_supervisor_ms": 2.91,
        "cpu_per_change_worker_ms": 2.52,
        "cpu_idle_supervisor_ms_per_s": 1.0,
        "cpu_idle_worker_ms_per_s": 20.0,
    }
    assert print_swap_load(figures, as_json=False) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines[:2]] == ["  steady", "changing"]
    assert lines[2].startswith("one-route changes of 10000 routes")
    assert lines[3].startswith("full compile + swap of 10000 routes")
    assert lines[3].endswith(
        "; under load median 320 ms on the node, push -> ACK median 330 ms, requests"
        " meanwhile p99 2.50 ms, max 12.0 ms, 0 failed, loop lag <= 5 ms"
    )
    assert lines[4].startswith("worker memory after 1 change 75.0 MB")
    assert lines[5] == (
        "node CPU per one-route change, idle (200 changes): supervisor 2.91 ms, worker 2.52 ms"
        " (less the idle node's own 1.0 and 20.0 ms per second)"
    )
