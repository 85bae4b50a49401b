"""Medians, spreads and ratios against nginx: pure arithmetic over measured runs."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from bench.measure import RunFigures

METRICS = ("requests_per_s", "p50_ms", "p99_ms", "requests_per_cpu_s", "peak_rss_mb")


@dataclass(frozen=True)
class Spread:
    median: float
    low: float
    high: float


def spread(values: Sequence[float]) -> Spread:
    if not values:
        raise ValueError("no values to summarize")
    return Spread(statistics.median(values), min(values), max(values))


def summarize(runs: Sequence[RunFigures]) -> dict[str, Spread]:
    """Each metric's median and range over `runs`."""
    rows = [asdict(run) for run in runs]
    return {metric: spread([row[metric] for row in rows]) for metric in METRICS}


def _ratio(value: float, reference: float) -> float | None:
    return value / reference if reference else None


def versus(peer: dict[str, Spread], reference: dict[str, Spread]) -> dict[str, float | None]:
    """A peer's medians as multiples of the reference's (nginx's) in the same scenario."""
    return {
        "requests_per_s": _ratio(peer["requests_per_s"].median, reference["requests_per_s"].median),
        "requests_per_cpu_s": _ratio(
            peer["requests_per_cpu_s"].median, reference["requests_per_cpu_s"].median
        ),
        "p99_ms": _ratio(peer["p99_ms"].median, reference["p99_ms"].median),
    }


def scaling_efficiency(requests_per_s: dict[int, float]) -> dict[int, float]:
    """Throughput at N workers over N times the one-worker throughput, per N."""
    single = requests_per_s.get(1)
    if not single:
        return {}
    return {n: rps / (n * single) for n, rps in sorted(requests_per_s.items())}
