"""A node's id, labels and flags as its hello reports them."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from data_plane.sync.identity import node_id, parse_labels
from data_plane.sync.settings import SyncSettings, SyncSettingsError, parse_addresses


def test_an_explicit_node_id_is_used_as_given() -> None:
    assert node_id("edge-1", "0.0.0.0:8080") == "edge-1"


def test_a_derived_node_id_is_stable_for_one_host_and_listen_address() -> None:
    assert node_id(None, "0.0.0.0:8080", "gw-a") == node_id(None, "0.0.0.0:8080", "gw-a")
    assert node_id(None, "0.0.0.0:8080", "gw-a").startswith("gw-a-")


def test_two_listen_addresses_on_one_host_get_different_ids() -> None:
    assert node_id(None, "0.0.0.0:8080", "gw-a") != node_id(None, "0.0.0.0:8081", "gw-a")


def test_an_odd_host_name_still_gives_a_valid_id() -> None:
    from data_plane.sync.contract import NODE_ID

    assert NODE_ID.fullmatch(node_id(None, ":8080", "héllo wörld!"))


def test_a_bad_explicit_node_id_names_the_flag() -> None:
    with pytest.raises(ValueError, match="--node-id"):
        node_id("has spaces", "0.0.0.0:8080")


def test_labels_are_parsed_from_key_value_flags() -> None:
    assert parse_labels(["group=green", "zone=eu-1", "note=a=b"]) == {
        "group": "green",
        "zone": "eu-1",
        "note": "a=b",
    }


@pytest.mark.parametrize("label", ["nogroup", "=green", "bad key=x"])
def test_a_malformed_label_names_the_flag(label: str) -> None:
    with pytest.raises(ValueError, match="--label"):
        parse_labels([label])


def test_several_control_plane_addresses_are_accepted() -> None:
    assert parse_addresses("a:50051, b:50051") == ("a:50051", "b:50051")


@pytest.mark.parametrize("value", ["", "nohost", "host:99999", "host:port"])
def test_a_bad_control_plane_address_names_the_flag(value: str) -> None:
    with pytest.raises(SyncSettingsError, match="--control-plane"):
        parse_addresses(value)


def _args(**overrides: object) -> argparse.Namespace:
    values: dict[str, object] = {
        "control_plane": "127.0.0.1:50051",
        "cluster_token": "secret",
        "node_id": "edge-1",
        "label": ["group=blue"],
        "listen": "127.0.0.1:8080",
        "cache_dir": "/tmp/cache",
        "tls_cert": None,
        "tls_key": None,
        "tls_ca": None,
    }
    values.update(overrides)
    return argparse.Namespace(**values)


def test_settings_come_from_the_data_plane_flags() -> None:
    settings = SyncSettings.from_args(_args())
    assert settings.addresses == ("127.0.0.1:50051",)
    assert (settings.node_id, settings.labels) == ("edge-1", {"group": "blue"})
    assert settings.tls is None
    assert "secret" not in repr(settings)


def test_a_node_reports_its_status_every_ten_seconds_and_backs_off_up_to_ten() -> None:
    settings = SyncSettings.from_args(_args(), environ={})
    assert (settings.status_interval, settings.reconnect_max_delay) == (10.0, 10.0)


def test_both_timings_can_be_shortened_by_their_variables() -> None:
    environ = {"FLEETGATE_STATUS_INTERVAL": "0.5", "FLEETGATE_RECONNECT_MAX_DELAY": "1"}
    settings = SyncSettings.from_args(_args(), environ=environ)
    assert (settings.status_interval, settings.reconnect_max_delay) == (0.5, 1.0)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("FLEETGATE_STATUS_INTERVAL", "soon"),
        ("FLEETGATE_STATUS_INTERVAL", "0"),
        ("FLEETGATE_RECONNECT_MAX_DELAY", "0.1"),  # under the first delay
        ("FLEETGATE_RECONNECT_MAX_DELAY", "nan"),
    ],
)
def test_a_bad_timing_names_its_variable(variable: str, value: str) -> None:
    with pytest.raises(SyncSettingsError, match=variable):
        SyncSettings.from_args(_args(), environ={variable: value})


def test_a_missing_cluster_token_names_the_flag() -> None:
    with pytest.raises(SyncSettingsError, match="--cluster-token"):
        SyncSettings.from_args(_args(cluster_token=None))


def test_tls_needs_all_three_files(tmp_path: Path) -> None:
    cert = tmp_path / "node.pem"
    cert.write_text("-----BEGIN CERTIFICATE-----\n")
    with pytest.raises(SyncSettingsError, match="--tls-key, --tls-ca missing"):
        SyncSettings.from_args(_args(tls_cert=str(cert)))


def test_an_unreadable_tls_file_names_the_flag(tmp_path: Path) -> None:
    pem = tmp_path / "x.pem"
    pem.write_text("-----BEGIN X-----\n")
    missing = str(tmp_path / "absent.pem")
    with pytest.raises(SyncSettingsError, match="--tls-ca: cannot read"):
        SyncSettings.from_args(_args(tls_cert=str(pem), tls_key=str(pem), tls_ca=missing))


def test_a_tls_file_that_is_not_pem_names_the_flag(tmp_path: Path) -> None:
    pem = tmp_path / "x.pem"
    pem.write_text("-----BEGIN X-----\n")
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    with pytest.raises(SyncSettingsError, match=r"--tls-key: .* is not a PEM file"):
        SyncSettings.from_args(_args(tls_cert=str(pem), tls_key=str(junk), tls_ca=str(pem)))
