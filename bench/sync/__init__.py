"""The config-sync scenarios of the bench: commit -> ACK on 100 nodes, compile and swap.

`run_sync_benchmarks()` runs both and returns their figures against DESIGN.md's
targets; `python -m bench.sync` runs them on their own and prints them. `python -m
bench` includes them as its "config" scenarios.
"""

from __future__ import annotations

from typing import Any


def run_sync_benchmarks(
    *, nodes: int = 100, changes: int = 30, routes: int = 10_000, runs: int = 3
) -> dict[str, Any]:
    from .compile_swap import run_compile_swap
    from .propagation import run_propagation

    return {
        "commit_to_ack": run_propagation(nodes=nodes, changes=changes),
        "compile_and_swap": run_compile_swap(routes=routes, runs=runs),
    }
