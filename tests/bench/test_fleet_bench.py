"""The fleet-scale bench (`python -m bench.sync --fleet N`) on a small fleet.

A real control plane, simulated nodes that report status and reconnect, and a restart:
it checks the report's shape and that every node came back SYNCED, never the times.
"""

from __future__ import annotations

import pytest

from bench.sync.fleet import run_fleet, target_p99_s

pytestmark = pytest.mark.e2e


def test_the_targets_are_one_second_at_500_nodes_and_three_at_2000() -> None:
    assert (target_p99_s(500), target_p99_s(2_000)) == (1.0, 3.0)


@pytest.mark.timeout(300)
def test_a_small_fleet_syncs_takes_changes_and_comes_back_after_a_restart() -> None:
    figures = run_fleet(nodes=20, changes=2, idle=1.0)
    assert (figures["nodes"], figures["changes"], figures["store"]) == (20, 2, "sqlite")
    assert 0 < figures["p50_ms"] <= figures["p99_ms"] <= figures["max_ms"]
    assert figures["target_p99_ms"] == 1000.0
    assert figures["idle_rss_mb"] > 0 and figures["peak_rss_mb"] >= figures["idle_rss_mb"]
    assert figures["idle_cpu_percent"] >= 0 and figures["change_cpu_percent"] > 0
    # the storm: every node reconnected on its own and the inventory says SYNCED for all
    assert figures["storm_synced_nodes"] == 20
    assert 0 < figures["storm_synced_s"] <= figures["storm_inventory_s"]
    assert figures["storm_target_s"] == 30.0
    assert isinstance(figures["storm_meets_target"], bool)
