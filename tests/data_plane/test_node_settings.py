"""A node's flags as `NodeSettings` resolves them, without starting a node."""

from __future__ import annotations

import pytest

from control_plane.cli import build_parser
from data_plane import settings as settings_module
from data_plane.config.syntax import parse_host_port
from data_plane.settings import LISTEN, STATUS_LISTEN, NodeSettings


@pytest.fixture(autouse=True)
def no_flag_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("FLEETGATE_WORKERS", "FLEETGATE_LISTEN", "FLEETGATE_STATUS_LISTEN"):
        monkeypatch.delenv(name, raising=False)


def node_settings(*flags: str) -> NodeSettings:
    return NodeSettings.from_args(build_parser().parse_args(["data-plane", *flags]))


def test_without_workers_a_node_runs_one_worker_per_core(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings_module.os, "cpu_count", lambda: 7)
    assert node_settings().workers == 7


def test_a_worker_count_given_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings_module.os, "cpu_count", lambda: 7)
    assert node_settings("--workers", "3").workers == 3


def test_the_listen_defaults_are_the_settings_own() -> None:
    settings = node_settings()
    assert settings.listen == parse_host_port(LISTEN) == ("0.0.0.0", 8080)
    assert settings.status_listen == parse_host_port(STATUS_LISTEN) == ("127.0.0.1", 9901)
