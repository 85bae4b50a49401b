"""The rollout gate's verdict, and the figures it reads (no I/O, no clock)."""

from __future__ import annotations

from typing import Any

from control_plane.rollouts.figures import add_figures, empty_figures, figures_json
from control_plane.rollouts.gate import judge

GATE = {"soak": 60.0, "min_requests": 100, "max_error_rate_delta": 0.01, "max_p99_ratio": 1.5}


def figures(
    candidate: tuple[int, int, float], active: tuple[int, int, float] = (1000, 1, 10.0)
) -> dict[str, Any]:
    stored = add_figures(
        empty_figures(),
        {
            "active": [active[0], active[1], active[2] * active[0]],
            "candidate": [candidate[0], candidate[1], candidate[2] * candidate[0]],
        },
    )
    return figures_json(stored)


def test_the_gate_waits_for_min_requests_on_the_candidate() -> None:
    verdict = judge(GATE, figures((99, 99, 10.0)), elapsed=600)
    assert verdict.action == "wait"
    assert "99 of 100 candidate requests" in verdict.reason


def test_a_healthy_candidate_waits_out_its_soak_then_is_promoted() -> None:
    assert judge(GATE, figures((200, 2, 12.0)), elapsed=59).action == "wait"
    verdict = judge(GATE, figures((200, 2, 12.0)), elapsed=60)
    assert verdict.action == "promote"
    assert "200 candidate requests" in verdict.reason


def test_an_error_rate_above_the_active_one_by_more_than_the_delta_rolls_back_at_once() -> None:
    verdict = judge(GATE, figures((100, 20, 10.0)), elapsed=1)
    assert verdict.action == "rollback"
    assert "5xx rate 0.200" in verdict.reason


def test_an_error_rate_within_the_delta_is_no_breach() -> None:
    assert judge(GATE, figures((1000, 11, 10.0)), elapsed=60).action == "promote"


def test_a_p99_above_the_ratio_of_the_active_one_rolls_back() -> None:
    verdict = judge(GATE, figures((100, 0, 15.1)), elapsed=1)
    assert verdict.action == "rollback"
    assert "p99 15.1 ms" in verdict.reason
    assert judge(GATE, figures((100, 0, 15.0)), elapsed=60).action == "promote"


def test_figures_add_up_reports_and_weigh_p99_by_requests() -> None:
    stored = add_figures(empty_figures(), {"candidate": [100, 10, 100 * 10.0]})
    stored = add_figures(stored, {"candidate": [300, 0, 300 * 30.0]})
    shown = figures_json(stored)["candidate"]
    assert shown == {"requests": 400, "error_rate": 0.025, "p99_ms": 25.0}
    assert figures_json(empty_figures())["active"] == {
        "requests": 0,
        "error_rate": 0.0,
        "p99_ms": 0.0,
    }
