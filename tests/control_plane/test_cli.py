"""The `fleetgate` command line itself: help, version, validate, and the pure parts of status,
apply --wait and up (no server needed)."""

from __future__ import annotations

import argparse
import re
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from control_plane.cli import build_parser, main
from control_plane.fleet_status import release_progress, render_nodes, report_progress
from control_plane.up import TOKEN_FILE, banner, kept_token
from data_plane.sync.identity import software_version


def subcommand_actions(name: str) -> list[argparse.Action]:
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return [a for a in commands.choices[name]._actions if a.option_strings and a.dest != "help"]


@pytest.mark.parametrize(
    "command", ["control-plane", "apply", "export", "validate", "status", "data-plane", "up"]
)
def test_help_shows_each_flags_default_and_environment_variable(command: str) -> None:
    for action in subcommand_actions(command):
        assert action.help is not None
        assert re.search(r"\((default: .+|required)\) \[env FLEETGATE_[A-Z_]+\]$", action.help), (
            action.option_strings,
            action.help,
        )


def test_every_flag_reads_its_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLEETGATE_TIMEOUT", "7.5")
    monkeypatch.setenv("FLEETGATE_WAIT", "yes")
    monkeypatch.setenv("FLEETGATE_FILE", "from-env.yaml")
    args = build_parser().parse_args(["apply"])
    assert (args.timeout, args.wait, args.file) == (7.5, True, "from-env.yaml")


def test_help_never_prints_a_token_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FLEETGATE_ADMIN_TOKEN", "secret-token-0123456789")
    monkeypatch.setenv("FLEETGATE_CLUSTER_TOKEN", "cluster-secret-0123456789")
    for command in ("apply", "control-plane", "up", "data-plane"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        out = capsys.readouterr().out
        assert "secret-token" not in out and "cluster-secret" not in out
        assert "FLEETGATE_ADMIN_TOKEN" in out or "FLEETGATE_CLUSTER_TOKEN" in out


def test_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out == f"fleetgate {software_version()}\n"


# ---------------------------------------------------------------- validate


def test_validate_accepts_a_good_file_and_counts_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "gateway.yaml"
    path.write_text(
        "services: [{name: a, targets: [{address: '127.0.0.1:1'}]}]\n"
        "routes: [{name: r, paths: [/a], service: a}]\n"
    )
    assert main(["validate", "-f", str(path)]) == 0
    assert capsys.readouterr().out == f"{path}: valid (1 services, 1 routes)\n"


def test_validate_prints_every_problem_as_file_and_line_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "gateway.yaml"
    path.write_text(
        "services:\n"
        "  - name: a\n"
        "    targets: [{address: '127.0.0.1:1'}]\n"
        "    retires: 1\n"
        "routes:\n"
        "  - name: r\n"
        "    paths: [/a]\n"
        "    service: b\n"
    )
    assert main(["validate", "-f", str(path)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0] == f"fleetgate: {path} is not a valid config (1 problem):"
    assert err[1:] == [f"{path}:4: services.a.retires: unknown field"]
    path.write_text(path.read_text().replace("    retires: 1\n", ""))
    assert main(["validate", "-f", str(path)]) == 1
    assert capsys.readouterr().err.splitlines()[1:] == [
        f"{path}:7: routes.r.service: no service named 'b'"
    ]


def test_validate_of_a_missing_file_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", "-f", str(tmp_path / "absent.yaml")]) == 1
    assert "cannot read it" in capsys.readouterr().err


# ---------------------------------------------------------------- apply --wait


def node(node_id: str, status: str = "SYNCED", **fields: Any) -> dict[str, Any]:
    return {"id": node_id, "status": status, "applied_version": None, **fields}


def test_a_node_serving_the_release_or_a_newer_one_acked_it() -> None:
    progress = release_progress(
        [node("b", applied_version=5), node("a", applied_version=6)], version=5
    )
    assert (progress.acked, progress.ok) == (["a", "b"], True)


def test_a_node_that_refused_the_release_nacked_it_with_its_error() -> None:
    progress = release_progress(
        [node("a", "NACKED", applied_version=4, rejected_version=5, last_error="v5: bad")], 5
    )
    assert progress.nacked == {"a": "v5: bad"}
    assert progress.done and not progress.ok


def test_a_node_still_on_an_older_release_is_pending_and_offline_ones_are_not_waited_for() -> None:
    progress = release_progress(
        [
            node("a", "STALE", applied_version=4, rejected_version=3),
            node("gone", "OFFLINE", applied_version=1),
        ],
        5,
    )
    assert progress.pending == ["a"] and not progress.done


def test_the_wait_report_names_the_nodes_and_exits_1_unless_all_acked(
    capsys: pytest.CaptureFixture[str],
) -> None:
    progress = release_progress(
        [
            node("ok-1", applied_version=5),
            node("bad", "NACKED", applied_version=4, rejected_version=5, last_error="v5: no"),
            node("slow", "STALE", applied_version=4),
        ],
        5,
    )
    assert report_progress(progress, timeout=3) == 1
    err = capsys.readouterr().err
    assert "release 5 applied by 1 node (ok-1)" in err
    assert "refused (NACK) by bad: v5: no" in err
    assert "no answer within 3 s from 1 node (slow)" in err


def test_the_nodes_table_shows_status_version_labels_and_errors() -> None:
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    table = render_nodes(
        [
            node(
                "edge-1",
                applied_version=7,
                labels={"group": "green"},
                last_seen=(now - timedelta(seconds=3)).isoformat(),
                last_error=None,
            ),
            node(
                "edge-2",
                "NACKED",
                applied_version=6,
                labels={},
                last_seen=(now - timedelta(minutes=5)).isoformat(),
                last_error="v7: no such thing\nmore",
            ),
        ],
        now,
    )
    assert table.splitlines() == [
        "nodes          2 (1 NACKED, 1 SYNCED)",
        "ID      STATUS  VERSION  LABELS       LAST SEEN  LAST ERROR",
        "edge-1  SYNCED  v7       group=green  3 s ago    -",
        "edge-2  NACKED  v6       -            5 min ago  v7: no such thing",
    ]


# ---------------------------------------------------------------- up


def test_up_keeps_its_token_in_the_data_directory_readable_by_its_owner_only(
    tmp_path: Path,
) -> None:
    path = tmp_path / TOKEN_FILE
    first = kept_token(path)
    assert kept_token(path) == first and len(first) >= 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_up_prints_an_export_line_for_the_token() -> None:
    args = argparse.Namespace(
        listen="127.0.0.1:8080",
        status_listen="127.0.0.1:9901",
        https_listen="127.0.0.1:8443",
        data_dir=".",
        admin_token=None,
    )
    text = banner(args, "http://127.0.0.1:8001", "tok", "sqlite:///x.db", Path("cache"))
    assert "  export FLEETGATE_ADMIN_TOKEN=tok\n" in text
    assert "/api/v1 " not in text.replace("/api/v1)", "")
