"""A node's flags as `NodeSettings` resolves them, without starting a node."""

from __future__ import annotations

from ipaddress import ip_network

import pytest

from control_plane.cli import build_parser
from data_plane import settings as settings_module
from data_plane.config.syntax import parse_host_port
from data_plane.settings import LISTEN, STATUS_LISTEN, NodeSettings, SettingsError


@pytest.fixture(autouse=True)
def no_flag_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "FLEETGATE_WORKERS",
        "FLEETGATE_LISTEN",
        "FLEETGATE_STATUS_LISTEN",
        "FLEETGATE_TRUSTED_PROXIES",
    ):
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


def test_trusted_proxies_come_from_the_flag_else_the_variable_else_none(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert node_settings().trusted_proxies == ()
    monkeypatch.setenv("FLEETGATE_TRUSTED_PROXIES", "10.0.0.0/8")
    assert node_settings().trusted_proxies == (ip_network("10.0.0.0/8"),)
    flagged = node_settings("--trusted-proxies", "192.0.2.0/24, 2001:db8::/32")
    assert flagged.trusted_proxies == (ip_network("192.0.2.0/24"), ip_network("2001:db8::/32"))


@pytest.mark.parametrize("bad", ["proxy.example", "10.0.0.1/8", "300.1.1.1"])
def test_a_trusted_proxy_that_is_not_a_network_is_refused_naming_the_flag(bad: str) -> None:
    with pytest.raises(SettingsError, match=f"--trusted-proxies.*{bad}"):
        node_settings("--trusted-proxies", f"127.0.0.1/32,{bad}")
