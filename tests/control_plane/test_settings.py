"""Control-plane settings: from the CLI namespace, the environment, and what they refuse."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from control_plane.cli import build_parser
from control_plane.settings import ControlPlaneSettings
from data_plane.config.syntax import parse_host_port


def settings_of(*argv: str) -> ControlPlaneSettings:
    return ControlPlaneSettings.from_args(build_parser().parse_args(["control-plane", *argv]))


def test_flags_become_settings() -> None:
    settings = settings_of(
        "--db", "postgresql://db/fleetgate", "--admin-listen", "0.0.0.0:9000", "--no-migrate"
    )
    assert settings.db == "postgresql://db/fleetgate"
    assert settings.admin_address == ("0.0.0.0", 9000)
    assert settings.no_migrate is True
    assert settings.sync_address == ("127.0.0.1", 50051)


def test_flags_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLEETGATE_NODE_OFFLINE_AFTER", "12.5")
    monkeypatch.setenv("FLEETGATE_CLUSTER_TOKEN", "cluster-secret-1234567890")
    settings = settings_of()
    assert settings.node_offline_after == 12.5
    assert settings.cluster_token == "cluster-secret-1234567890"


def test_an_ipv6_listen_address_is_understood() -> None:
    assert parse_host_port("[::1]:8001") == ("::1", 8001)


@pytest.mark.parametrize("listen", ["8001", "host:", "host:0", "host:70000", ":8001"])
def test_a_malformed_listen_address_is_refused_naming_the_setting(listen: str) -> None:
    with pytest.raises(ValidationError) as error:
        settings_of("--admin-listen", listen)
    assert error.value.errors()[0]["loc"] == ("admin_listen",)


def test_a_weak_admin_token_is_warned_about_outside_development() -> None:
    assert settings_of("--admin-token", "admin").warnings()
    assert settings_of("--admin-token", "short-one").warnings()
    assert not settings_of("--admin-token", "a-long-random-token-3f9a2c1d").warnings()


def test_development_does_not_warn_about_a_weak_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLEETGATE_ENVIRONMENT", "development")
    assert not settings_of("--admin-token", "admin").warnings()


def test_a_token_with_whitespace_is_refused() -> None:
    with pytest.raises(ValidationError):
        settings_of("--admin-token", "has space in it 1234")
