"""README's `fleetgate data-plane --config FILE` section must stay true to the code."""

from __future__ import annotations

import re
from pathlib import Path

from control_plane.cli import build_parser
from data_plane.capabilities import check_capabilities
from data_plane.config.validate import check_snapshot
from data_plane.settings import Limits
from data_plane.standalone import load_config_file

README = Path(__file__).resolve().parents[2] / "README.md"
HEADING = "## Running a node on its own"


def section() -> str:
    text = README.read_text()
    start = text.index(HEADING)
    end = text.find("\n## ", start + len(HEADING))
    return text[start : end if end >= 0 else None]


def test_the_example_file_is_a_config_a_node_can_serve(tmp_path: Path) -> None:
    match = re.search(r"```yaml\n(.*?)```", section(), re.S)
    assert match is not None
    example = tmp_path / "gateway.yaml"
    example.write_text(match.group(1))
    snapshot = load_config_file(str(example))
    assert check_snapshot(snapshot) == []
    check_capabilities(snapshot)


def test_every_flag_in_the_table_is_a_flag_of_data_plane() -> None:
    flags = re.findall(r"^\| `(--[a-z-]+)", section(), re.M)
    assert flags
    parsed = vars(build_parser().parse_args(["data-plane"]))
    known = {"--" + name.replace("_", "-") for name in parsed}
    assert set(flags) <= known


def test_every_limit_named_is_a_limit_of_the_node() -> None:
    named = set(re.findall(r"`FLEETGATE_([A-Z_]+)`", section()))
    assert named == {name.upper() for name in Limits.__dataclass_fields__}
