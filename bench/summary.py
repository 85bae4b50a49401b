"""Medians, spreads and ratios against nginx: pure arithmetic over measured runs."""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from bench.measure import RunFigures

METRICS = (
    "requests_per_s",
    "p50_ms",
    "p99_ms",
    "requests_per_cpu_s",
    "peak_rss_mb",
    "worker_rss_mb",
)


@dataclass(frozen=True)
class Spread:
    median: float
    low: float
    high: float


def spread(values: Sequence[float]) -> Spread:
    if not values:
        raise ValueError("no values to summarize")
    return Spread(statistics.median(values), min(values), max(values))


def summarize(runs: Sequence[RunFigures]) -> dict[str, Spread | None]:
    """Each metric's median and range over `runs`; None where no run has a value.

    Latencies are missing from runs in which no request completed.
    """
    rows = [asdict(run) for run in runs]
    out: dict[str, Spread | None] = {}
    for metric in METRICS:
        values = [row[metric] for row in rows if row[metric] is not None]
        out[metric] = spread(values) if values else None
    return out


def versus(
    peer: Mapping[str, Spread | None], reference: Mapping[str, Spread | None]
) -> dict[str, float | None]:
    """A peer's medians as multiples of the reference's (nginx's) in the same scenario."""
    out: dict[str, float | None] = {}
    for metric in ("requests_per_s", "requests_per_cpu_s", "p99_ms"):
        mine, theirs = peer.get(metric), reference.get(metric)
        if mine is None or theirs is None or not theirs.median:
            out[metric] = None
        else:
            out[metric] = mine.median / theirs.median
    return out


def scaling_efficiency(requests_per_s: dict[int, float]) -> dict[int, float]:
    """Throughput at N workers over N times the one-worker throughput, per N."""
    single = requests_per_s.get(1)
    if not single:
        return {}
    return {n: rps / (n * single) for n, rps in sorted(requests_per_s.items())}


def scaling_by_peer(scenarios: Sequence[Mapping[str, Any]]) -> dict[str, dict[int, float]]:
    """Per peer, the scaling efficiency at each worker count of the report's scaling group."""
    by_peer: dict[str, dict[int, float]] = {}
    for scenario in scenarios:
        if scenario["group"] != "scaling":
            continue
        for peer in scenario["peers"]:
            if "median" in peer and "error" not in peer:
                rps = peer["median"]["requests_per_s"]
                by_peer.setdefault(peer["peer"], {})[scenario["workers"]] = rps
    return {peer: scaling_efficiency(figures) for peer, figures in by_peer.items()}
