"""The node's view of its targets for its status report: health from the supervisor's
checks, breaker state from the workers (the worst of them: one worker with the breaker
open is a target failing somewhere)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

from .breaker import STATES, TargetBreakers

MAX_REPORTED = 1000  # targets in one report (the sync stream refuses more)
_WORSE = {"": 0, "closed": 1, "half_open": 2, "open": 3}


class TargetState(NamedTuple):
    service: str
    address: str
    healthy: bool  # passes its active checks (True when not checked)
    breaker: str  # "closed", "open", "half_open", or "" without a breaker


def worker_breakers(breakers: Iterable[TargetBreakers]) -> list[list[str]]:
    """[service, address, state] of every target with a breaker, in one worker, bounded."""
    found: list[list[str]] = []
    for service in breakers:
        for target, state in zip(service.balancer.targets, service.states, strict=True):
            if len(found) >= MAX_REPORTED:
                return found
            found.append([service.service, target.address, STATES[state]])
    return found


def node_targets(
    health: dict[tuple[str, str], bool], workers: Iterable[Sequence[Sequence[str]]]
) -> tuple[TargetState, ...]:
    """Every checked or breaker-guarded target once, ordered, at most MAX_REPORTED."""
    merged: dict[tuple[str, str], tuple[bool, str]] = {
        key: (healthy, "") for key, healthy in health.items()
    }
    for reported in workers:
        for service, address, state in reported:
            healthy, worst = merged.get((service, address), (True, ""))
            if _WORSE.get(state, 0) > _WORSE[worst]:
                worst = state
            merged[(service, address)] = (healthy, worst)
    ordered = sorted(merged.items())[:MAX_REPORTED]
    return tuple(TargetState(s, a, healthy, breaker) for (s, a), (healthy, breaker) in ordered)
