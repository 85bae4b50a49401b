"""README's config-sync section must stay true to the code."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from control_plane.cli import build_parser

README = Path(__file__).resolve().parents[2] / "README.md"
HEADING = "## Config sync"
COMMANDS = {"control-plane": ["control-plane"], "data-plane": ["data-plane"]}
COMMANDS["both"] = COMMANDS["control-plane"] + COMMANDS["data-plane"]


def section() -> str:
    text = README.read_text()
    start = text.index(HEADING)
    end = text.find("\n## ", start + len(HEADING))
    return text[start : end if end >= 0 else None]


def flags_of(command: str) -> set[str]:
    parsed = vars(build_parser().parse_args([command]))
    return {"--" + name.replace("_", "-") for name in parsed}


def test_every_flag_in_the_table_is_a_flag_of_the_commands_named() -> None:
    rows = re.findall(r"^\| (`--.*?) \| ([a-z-]+) \|", section(), re.M)
    assert rows
    for flags, of in rows:
        for flag in re.findall(r"`(--[a-z-]+)", flags):
            for command in COMMANDS[of]:
                assert flag in flags_of(command), f"{flag} is not a flag of {command}"


def example_commands() -> list[list[str]]:
    match = re.search(r"```sh\n(.*?)```", section(), re.S)
    assert match is not None
    lines = match.group(1).replace("\\\n", " ").splitlines()
    return [shlex.split(line)[1:] for line in lines if line.startswith("fleetgate ")]


@pytest.mark.parametrize("argv", example_commands(), ids=lambda argv: argv[0])
def test_every_example_command_parses(argv: list[str]) -> None:
    build_parser().parse_args(argv)
