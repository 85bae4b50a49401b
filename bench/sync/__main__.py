"""`python -m bench.sync`: the config-sync scenarios on their own."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from bench.sync import run_sync_benchmarks
from bench.sync.fleet import run_fleet
from bench.sync.swap_load import run_swap_load


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sync", description=__doc__)
    parser.add_argument("--nodes", type=int, default=100, help="simulated nodes")
    parser.add_argument("--changes", type=int, default=30, help="admin changes to time")
    parser.add_argument("--routes", type=int, default=10_000, help="routes in the big snapshot")
    parser.add_argument("--runs", type=int, default=3, help="timed pushes of the big snapshot")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.add_argument(
        "--fleet",
        type=int,
        metavar="N",
        help="instead: the fleet-scale scenario with N nodes on one control-plane replica",
    )
    parser.add_argument("--db", help="fleet scenario: PostgreSQL URL of the store (default SQLite)")
    parser.add_argument(
        "--swap-load",
        action="store_true",
        help="instead: config changes (--changes) under steady load on a --routes node",
    )
    parser.add_argument("--rate", type=int, default=1000, help="swap-load: requests per second")
    args = parser.parse_args()
    if args.swap_load:
        return print_swap_load(
            run_swap_load(routes=args.routes, rate=args.rate, changes=args.changes), args.json
        )
    if args.fleet:
        return print_fleet(run_fleet(nodes=args.fleet, changes=args.changes, db=args.db), args.json)
    figures = run_sync_benchmarks(
        nodes=args.nodes, changes=args.changes, routes=args.routes, runs=args.runs
    )
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    propagation = figures["commit_to_ack"]
    swap = figures["compile_and_swap"]
    print(
        f"commit -> ACK, {propagation['nodes']} nodes, {propagation['changes']} changes:"
        f" p50 {propagation['p50_ms']:.1f} ms, p99 {propagation['p99_ms']:.1f} ms"
        f" (max {propagation['max_ms']:.1f} ms; target p99 <= {propagation['target_p99_ms']:.0f}"
        f" ms: {'met' if propagation['meets_target'] else 'MISSED'})"
    )
    print(
        f"compile + swap, {swap['routes']} routes ({swap['snapshot_bytes']} bytes),"
        f" {swap['runs']} runs: median {swap['apply_median_s'] * 1000:.0f} ms,"
        f" max {swap['apply_max_s'] * 1000:.0f} ms (push -> ACK median"
        f" {swap['push_to_ack_median_s'] * 1000:.0f} ms; target <= {swap['target_s']:g} s:"
        f" {'met' if swap['meets_target'] else 'MISSED'})"
    )
    return 0


def print_swap_load(figures: dict[str, Any], as_json: bool) -> int:
    if as_json:
        print(json.dumps(figures, indent=2))
        return 0
    f = figures
    loaded = f["full_loaded"]
    for name in ("steady", "changing"):
        side = f[name]
        print(
            f"{name:>8}: {side['requests']} requests at {f['rate']}/s, {side['failures']} failed;"
            f" p50 {side['p50_ms']:.2f} ms, p99 {side['p99_ms']:.2f} ms, max"
            f" {side['max_ms']:.1f} ms; loop lag <= {side['loop_lag_max_le_ms']:g} ms"
            f" ({side['loop_lags_over_10ms']:.0f} probes over 10 ms late)"
        )
    print(
        f"one-route changes of {f['routes']} routes, pushed over the sync stream: push -> ACK"
        f" idle median {f['push_to_ack_idle_median_ms']:.0f} ms (max"
        f" {f['push_to_ack_idle_max_ms']:.0f} ms), under load median"
        f" {f['push_to_ack_loaded_median_ms']:.0f} ms (max {f['push_to_ack_loaded_max_ms']:.0f}"
        f" ms)\n"
        f"full compile + swap of {f['routes']} routes (every route but the measured one"
        f" changed): median"
        f" {f['full_apply_median_ms']:.0f} ms on the node, push -> ACK median"
        f" {f['full_push_to_ack_median_ms']:.0f} ms; under load median"
        f" {f['full_loaded_apply_median_ms']:.0f} ms on the node, push -> ACK median"
        f" {f['full_loaded_push_to_ack_median_ms']:.0f} ms, requests meanwhile p99"
        f" {loaded['p99_ms']:.2f} ms, max {loaded['max_ms']:.1f} ms,"
        f" {loaded['failures']} failed, loop lag <= {loaded['loop_lag_max_le_ms']:g} ms\n"
        f"worker memory after 1 change {f['worker_rss_after_first_mb']:.1f} MB, after"
        f" {f['memory_changes']} {f['worker_rss_after_last_mb']:.1f} MB, after"
        f" {2 * f['memory_changes']} {f['worker_rss_after_twice_mb']:.1f} MB\n"
        f"node CPU per one-route change, idle ({f['cpu_changes']} changes): supervisor"
        f" {f['cpu_per_change_supervisor_ms']:.2f} ms, worker"
        f" {f['cpu_per_change_worker_ms']:.2f} ms (less the idle node's own"
        f" {f['cpu_idle_supervisor_ms_per_s']:.1f} and {f['cpu_idle_worker_ms_per_s']:.1f} ms"
        f" per second)"
    )
    return 0


def print_fleet(figures: dict[str, Any], as_json: bool) -> int:
    if as_json:
        print(json.dumps(figures, indent=2))
        return 0
    f = figures
    print(
        f"fleet of {f['nodes']} nodes on one replica ({f['store']}): all connected and synced"
        f" in {f['connect_all_s']:.1f} s\n"
        f"  idle: {f['idle_cpu_percent']:.1f}% of a core, {f['idle_rss_mb']:.0f} MB resident\n"
        f"  {f['changes']} one-entity changes: {f['change_cpu_percent']:.0f}% of a core,"
        f" {f['change_rss_mb']:.0f} MB resident (peak {f['peak_rss_mb']:.0f} MB); the simulated"
        f" fleet used {f['fleet_cpu_percent']:.0f}% of a core\n"
        f"  commit -> ACK: p50 {f['p50_ms']:.0f} ms, p99 {f['p99_ms']:.0f} ms, max"
        f" {f['max_ms']:.0f} ms (target p99 <= {f['target_p99_ms']:.0f} ms:"
        f" {'met' if f['meets_target'] else 'MISSED'})\n"
        f"  reconnect storm after a restart: all synced {f['storm_synced_s']:.1f} s after the"
        f" new process started, inventory all SYNCED at {f['storm_inventory_s']:.1f} s, peak"
        f" {f['storm_peak_rss_mb']:.0f} MB (target <= {f['storm_target_s']:.0f} s:"
        f" {'met' if f['storm_meets_target'] else 'MISSED'})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
