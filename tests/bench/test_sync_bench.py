"""The config-sync bench (`python -m bench.sync`): its figures, on a small scale.

These run the real scenarios (a control plane and simulated nodes; one real node) with
few nodes and routes, and check the report's shape, never the times measured.
"""

from __future__ import annotations

import pytest

from bench.cli import scenario_names
from bench.sync import run_sync_benchmarks
from bench.sync.figures import percentile

pytestmark = pytest.mark.e2e


def test_percentiles_are_nearest_rank_values_that_were_observed() -> None:
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 0.50), percentile(values, 0.99), percentile(values, 1.0)) == (
        50.0,
        99.0,
        100.0,
    )
    assert percentile([3.0], 0.99) == 3.0


def test_an_empty_sample_has_no_percentile() -> None:
    with pytest.raises(ValueError):
        percentile([], 0.5)


def test_the_main_bench_offers_the_config_scenarios() -> None:
    assert "config" in scenario_names()


def test_both_scenarios_report_their_figures_against_the_targets() -> None:
    figures = run_sync_benchmarks(nodes=3, changes=2, routes=50, runs=1)
    propagation, swap = figures["commit_to_ack"], figures["compile_and_swap"]
    assert (propagation["nodes"], propagation["changes"]) == (3, 2)
    assert 0 < propagation["p50_ms"] <= propagation["p99_ms"] <= propagation["max_ms"]
    assert propagation["target_p99_ms"] == 250.0
    assert isinstance(propagation["meets_target"], bool)
    assert (swap["routes"], swap["runs"]) == (50, 1)
    assert swap["snapshot_bytes"] > 0
    assert 0 < swap["apply_median_s"] <= swap["apply_max_s"]
    assert swap["target_s"] == 1.0
    assert isinstance(swap["meets_target"], bool)
