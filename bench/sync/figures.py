"""Percentiles as the bench reports them."""

from __future__ import annotations

import math


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile: a value that was actually observed."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]
