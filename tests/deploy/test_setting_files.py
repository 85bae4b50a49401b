"""FLEETGATE_<FLAG>_FILE: a flag's value from a file, the way container secrets arrive."""

from __future__ import annotations

from pathlib import Path

import pytest

from control_plane.cli import MAX_SETTING_FILE_BYTES, build_parser

TOKEN = "k7Qm2vX9pL4sN8wR3tY6uZ1aB5cD0eF_"


def parsed(argv: list[str]) -> dict[str, object]:
    return vars(build_parser().parse_args(argv))


def test_a_token_comes_from_the_file_its_variable_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = tmp_path / "cluster-token"
    secret.write_text(TOKEN + "\n")  # `echo ... > file` leaves a line feed; it is not the token's
    monkeypatch.setenv("FLEETGATE_CLUSTER_TOKEN_FILE", str(secret))
    assert parsed(["data-plane"])["cluster_token"] == TOKEN
    assert parsed(["control-plane"])["cluster_token"] == TOKEN


def test_the_admin_token_file_is_read_for_the_admin_token_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = tmp_path / "admin-token"
    secret.write_text(TOKEN)
    monkeypatch.setenv("FLEETGATE_ADMIN_TOKEN_FILE", str(secret))
    assert parsed(["control-plane"])["admin_token"] == TOKEN
    assert parsed(["status"])["token"] == TOKEN


def test_the_variable_wins_over_the_file_and_the_command_line_over_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = tmp_path / "db-url"
    secret.write_text("postgresql+psycopg://fleetgate:pw@db/fleetgate\n")
    monkeypatch.setenv("FLEETGATE_DB_FILE", str(secret))
    assert parsed(["db", "upgrade"])["db"] == "postgresql+psycopg://fleetgate:pw@db/fleetgate"
    monkeypatch.setenv("FLEETGATE_DB", "sqlite:///from-env.db")
    assert parsed(["db", "upgrade"])["db"] == "sqlite:///from-env.db"
    assert parsed(["db", "upgrade", "--db", "sqlite:///flag.db"])["db"] == "sqlite:///flag.db"


def test_a_list_flag_file_is_split_like_its_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    labels = tmp_path / "labels"
    labels.write_text("group=blue,zone=eu-1\n")
    monkeypatch.setenv("FLEETGATE_LABEL_FILE", str(labels))
    assert parsed(["data-plane"])["label"] == ["group=blue", "zone=eu-1"]


def test_a_missing_file_stops_the_command_naming_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLEETGATE_CLUSTER_TOKEN_FILE", str(tmp_path / "absent"))
    with pytest.raises(SystemExit) as stopped:
        build_parser()
    assert "FLEETGATE_CLUSTER_TOKEN_FILE: cannot read" in str(stopped.value.code)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (TOKEN + "\nsecond line\n", "more than one line"),
        ("x" * (MAX_SETTING_FILE_BYTES + 1), f"more than {MAX_SETTING_FILE_BYTES} bytes"),
    ],
)
def test_a_file_that_is_not_one_short_line_is_refused(
    content: str, problem: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = tmp_path / "cluster-token"
    secret.write_text(content)
    monkeypatch.setenv("FLEETGATE_CLUSTER_TOKEN_FILE", str(secret))
    with pytest.raises(SystemExit) as stopped:
        build_parser()
    assert problem in str(stopped.value.code)


def test_an_empty_file_variable_reads_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLEETGATE_CLUSTER_TOKEN_FILE", "")
    assert parsed(["data-plane"])["cluster_token"] is None
