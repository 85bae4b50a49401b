"""A weak cluster token is refused when the sync stream leaves the machine, and warned
about on loopback (a laptop, the tests)."""

from __future__ import annotations

import argparse

import pytest
from pydantic import ValidationError

from control_plane.cli import build_parser
from control_plane.settings import ControlPlaneSettings
from data_plane.sync.settings import SyncSettings, SyncSettingsError

STRONG = "a-long-random-token-3f9a2c1d7e"


def control_plane(*argv: str) -> ControlPlaneSettings:
    return ControlPlaneSettings.from_args(build_parser().parse_args(["control-plane", *argv]))


@pytest.mark.parametrize("token", ["x", "short-token", "changeme", "PASSWORD"])
def test_the_control_plane_refuses_a_weak_token_on_a_public_address(token: str) -> None:
    with pytest.raises(ValidationError, match="cluster token is weak"):
        control_plane("--cluster-token", token, "--sync-listen", "0.0.0.0:50051")


def test_the_control_plane_warns_of_a_weak_token_on_loopback() -> None:
    settings = control_plane("--cluster-token", "x", "--sync-listen", "127.0.0.1:50051")
    assert any("cluster token is weak" in w for w in settings.warnings())


def test_a_strong_token_is_taken_anywhere_without_a_word() -> None:
    settings = control_plane("--cluster-token", STRONG, "--sync-listen", "0.0.0.0:50051")
    assert settings.warnings() == []


def node(token: str, control_planes: str) -> SyncSettings:
    return SyncSettings.from_args(
        argparse.Namespace(
            control_plane=control_planes,
            cluster_token=token,
            node_id="edge-1",
            label=[],
            listen="127.0.0.1:8080",
            cache_dir="/tmp/cache",
            tls_cert=None,
            tls_key=None,
            tls_ca=None,
        )
    )


def test_a_node_refuses_a_weak_token_toward_another_machine() -> None:
    with pytest.raises(SyncSettingsError, match="--cluster-token: the cluster token is weak"):
        node("x", "127.0.0.1:50051,cp.internal:50051")


def test_a_node_warns_of_a_weak_token_on_loopback() -> None:
    assert "weak" in (node("x", "127.0.0.1:50051,localhost:50052").token_warning or "")
    assert node(STRONG, "cp.internal:50051").token_warning is None
