"""`python -m bench.policies`: every case builds its chain and is measured."""

from __future__ import annotations

import pytest

from bench.policies.cost import cases, chain_of, main
from data_plane.limits.policy import RateLimitPolicy


def test_every_case_runs_a_chain_that_admits_its_request(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--repeats", "1", "--number", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 + len(cases())
    assert all(" us " in line for line in lines[1:])


def test_the_tier_case_limits_by_tier_and_the_others_do_not() -> None:
    by_name = {case.name: chain_of(case) for case in cases()}
    assert "RateLimitPolicy" not in repr(by_name["auth-api-key"])
    limits = [p for p in by_name["policies + tier"].policies if isinstance(p, RateLimitPolicy)]
    assert [p.use_tier for p in limits] == [True]
