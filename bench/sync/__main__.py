"""`python -m bench.sync`: the config-sync scenarios on their own."""

from __future__ import annotations

import argparse
import json
import sys

from bench.sync import run_sync_benchmarks


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sync", description=__doc__)
    parser.add_argument("--nodes", type=int, default=100, help="simulated nodes")
    parser.add_argument("--changes", type=int, default=30, help="admin changes to time")
    parser.add_argument("--routes", type=int, default=10_000, help="routes in the big snapshot")
    parser.add_argument("--runs", type=int, default=3, help="timed pushes of the big snapshot")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    args = parser.parse_args()
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


if __name__ == "__main__":
    sys.exit(main())
