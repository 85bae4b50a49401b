"""A rollout's figures: what node reports add up to, per side (active, candidate).

Stored as running sums - requests, 5xx answers, and p99 weighted by the requests it
covers - so each report just adds to them, from whichever replica heard it; read as
`requests`, `error_rate` (the 5xx share) and `p99_ms` (the request-weighted mean of
the nodes' reported p99s: node reports carry percentiles, not histograms).
"""

from __future__ import annotations

from typing import Any

SIDES = ("active", "candidate")


def empty_figures() -> dict[str, Any]:
    return {side: {"requests": 0, "errors": 0, "p99_weight": 0.0} for side in SIDES}


def add_figures(stored: dict[str, Any], deltas: dict[str, list[float]]) -> dict[str, Any]:
    """`stored` plus `deltas` ({side: [requests, errors, p99 x requests]}), as a new dict."""
    total = empty_figures()
    for side in SIDES:
        old = stored.get(side) or {}
        new = deltas.get(side, [0, 0, 0.0])
        total[side] = {
            "requests": int(old.get("requests", 0)) + int(new[0]),
            "errors": int(old.get("errors", 0)) + int(new[1]),
            "p99_weight": float(old.get("p99_weight", 0.0)) + float(new[2]),
        }
    return total


def figures_json(stored: dict[str, Any]) -> dict[str, Any]:
    """The figures as the admin API shows them."""
    shown = {}
    for side in SIDES:
        values = stored.get(side) or {}
        requests = int(values.get("requests", 0))
        errors = int(values.get("errors", 0))
        weight = float(values.get("p99_weight", 0.0))
        shown[side] = {
            "requests": requests,
            "error_rate": round(errors / requests, 6) if requests else 0.0,
            "p99_ms": round(weight / requests, 3) if requests else 0.0,
        }
    return shown
