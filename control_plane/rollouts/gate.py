"""The gate of a rollout: promote, roll back, or wait, from its figures and the clock.

Pure: the decider (control_plane/rollouts/decider.py) reads the running rollout and
acts on the verdict. The candidate is judged once it has served `min_requests`: a
5xx share above the active side's by more than `max_error_rate_delta`, or a p99 above
`max_p99_ratio` times the active side's, is a breach (rolled back with the reason);
within bounds after `soak` seconds, it is promoted. Until then it waits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Action = Literal["wait", "promote", "rollback"]


@dataclass(frozen=True, slots=True)
class Verdict:
    action: Action
    reason: str

    def __str__(self) -> str:
        return f"{self.action}: {self.reason}"


def _side(figures: dict[str, Any], side: str) -> tuple[int, float, float]:
    values = figures.get(side) or {}
    return (
        int(values.get("requests", 0)),
        float(values.get("error_rate", 0.0)),
        float(values.get("p99_ms", 0.0)),
    )


def judge(gate: dict[str, Any], figures: dict[str, Any], elapsed: float) -> Verdict:
    """What the gate says of a rollout running for `elapsed` seconds with `figures`."""
    soak = float(gate["soak"])
    min_requests = int(gate["min_requests"])
    requests, error_rate, p99 = _side(figures, "candidate")
    _, active_error_rate, active_p99 = _side(figures, "active")
    if requests < max(1, min_requests):
        waited = f"{elapsed:.0f} s of {soak:g} s"
        return Verdict("wait", f"{requests} of {min_requests} candidate requests, {waited}")
    delta = error_rate - active_error_rate
    if delta > float(gate["max_error_rate_delta"]):
        return Verdict(
            "rollback",
            f"candidate 5xx rate {error_rate:.3f} exceeds the active {active_error_rate:.3f}"
            f" by more than {float(gate['max_error_rate_delta']):g}",
        )
    ratio = float(gate["max_p99_ratio"])
    if active_p99 > 0 and p99 > ratio * active_p99:
        return Verdict(
            "rollback",
            f"candidate p99 {p99:.1f} ms exceeds {ratio:g} x the active {active_p99:.1f} ms",
        )
    if elapsed < soak:
        return Verdict("wait", f"within bounds, soaking {elapsed:.0f} s of {soak:g} s")
    return Verdict(
        "promote",
        f"within bounds after {elapsed:.0f} s and {requests} candidate requests",
    )
