"""`python -m bench.policies.instructions`: the replay callgrind counts runs each scenario."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.peers import fleetgate
from bench.policies import instructions
from bench.request_cpu import SCENARIOS


@pytest.mark.parametrize("name", SCENARIOS)
def test_the_counted_replay_runs_each_scenario_with_the_given_jwt_material(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    material = tmp_path / "jwt.json"
    material.write_text(json.dumps(fleetgate.jwt_material()))
    monkeypatch.setattr(instructions, "WARM_UP", 5)
    monkeypatch.setattr(fleetgate, "jwt_material", fleetgate.jwt_material)
    instructions.replay(name, 5, material)  # the Replayer raises unless answered 200


def test_the_counted_replay_verifies_with_the_given_key_not_a_new_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pem, _ = fleetgate.jwt_material()
    _, other_token = fleetgate.jwt_material.__wrapped__()  # signed by another key
    material = tmp_path / "jwt.json"
    material.write_text(json.dumps([pem, other_token]))
    monkeypatch.setattr(instructions, "WARM_UP", 5)
    monkeypatch.setattr(fleetgate, "jwt_material", fleetgate.jwt_material)
    with pytest.raises(AssertionError, match="401"):
        instructions.replay("auth-jwt", 5, material)
