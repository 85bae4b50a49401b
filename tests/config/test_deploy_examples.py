"""The files in deploy/ are what operators copy: they must stay true to the code."""

from __future__ import annotations

import configparser
import shlex
from pathlib import Path

import pytest

from control_plane.cli import build_parser
from data_plane.capabilities import check_capabilities
from data_plane.config.validate import check_snapshot
from data_plane.standalone import load_config_file

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
SYSTEMD = DEPLOY / "systemd"


def env_file(name: str) -> dict[str, str]:
    values = {}
    for line in (SYSTEMD / name).read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            values[key] = value
    return values


def unit_commands(name: str) -> list[list[str]]:
    unit = configparser.ConfigParser(interpolation=None, strict=False)
    unit.read(SYSTEMD / name)
    service = unit["Service"]
    return [
        shlex.split(service[key])[1:]  # drop the path of the fleetgate script
        for key in ("ExecStartPre", "ExecStart")
        if key in service
    ]


def test_the_example_gateway_file_is_a_valid_config_a_node_can_serve() -> None:
    snapshot = load_config_file(str(DEPLOY / "gateway.example.yaml"))
    assert check_snapshot(snapshot) == []
    check_capabilities(snapshot)  # a standalone node serves it as it is
    assert [route.name for route in snapshot.routes] == ["admin", "sessions", "users-api"]


@pytest.mark.parametrize(
    ("unit", "env", "command"),
    [
        ("fleetgate-control-plane.service", "control-plane.env.example", "control-plane"),
        ("fleetgate-data-plane.service", "data-plane.env.example", "data-plane"),
    ],
)
def test_every_setting_of_an_env_file_is_a_flag_of_its_command(
    unit: str, env: str, command: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    values = env_file(env)
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    parser = build_parser()
    commands = unit_commands(unit)
    assert commands[-1][0] == command
    for argv in commands:
        parser.parse_args(argv)  # exits on an unknown flag
    parsed = vars(parser.parse_args([command]))
    for key, value in values.items():
        name = key.removeprefix("FLEETGATE_").lower()
        assert name in parsed, f"{env}: {key} is not a flag of `fleetgate {command}`"
        got = parsed[name]
        if isinstance(got, list):
            assert got == value.split(","), key
        else:
            assert str(got) == value or float(got) == float(value), key
