"""The processes' own log lines: text or JSON, with UTC timestamps, in every process."""

from __future__ import annotations

import json
import logging
import re
import sys
from pathlib import Path

import pytest

from data_plane.log_format import JsonFormatter, TextFormatter, configure_logging
from tests.data_plane.running_node import RunningNode, catch_all
from tests.data_plane.scripted_upstream import ScriptedUpstream


def record(message: str, **extra: object) -> logging.LogRecord:
    made = logging.LogRecord("fleetgate.test", logging.WARNING, __file__, 1, message, (), None)
    made.created = 1_700_000_000.25
    made.msecs = 250.0
    for name, value in extra.items():
        setattr(made, name, value)
    return made


def test_text_lines_start_with_a_utc_timestamp() -> None:
    line = TextFormatter().format(record("hello"))
    assert re.fullmatch(r"2023-11-14T22:13:20\.250Z WARNING fleetgate\.test\[\d+\]: hello", line)


def test_json_lines_carry_the_record_its_fields_and_its_traceback() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        failing = record("failed %s", fields={"path": "/x", "status": 500}, exc_info=sys.exc_info())
    line = json.loads(JsonFormatter().format(failing))
    assert line["ts"] == "2023-11-14T22:13:20.250Z"
    assert (line["level"], line["logger"], line["message"]) == (
        "WARNING",
        "fleetgate.test",
        "failed %s",
    )
    assert (line["path"], line["status"]) == ("/x", 500)
    assert "ValueError: boom" in line["exc"]


def test_an_unknown_format_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="--log-format"):
        configure_logging("xml")


def test_a_node_and_its_workers_log_json_lines(tmp_path: Path, scripted: ScriptedUpstream) -> None:
    running = RunningNode(
        tmp_path,
        catch_all(scripted.address),
        workers=2,
        env={"FLEETGATE_LOG_FORMAT": "json", "FLEETGATE_ACCESS_LOG": "off"},
    )
    running.start()
    assert running.stop() == 0
    lines = [json.loads(line) for line in running.log().splitlines() if line.strip()]
    assert {line["logger"] for line in lines} >= {"fleetgate.node", "fleetgate.worker"}
    assert len({line["pid"] for line in lines}) >= 3  # the supervisor and both workers
    assert all(line["ts"].endswith("Z") for line in lines)
