"""`fleetgate apply`'s own checks of the file, and how it prints a diff (no server needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from control_plane.cli import main
from control_plane.declarative import render_diff

VALID = """\
services:
  - name: users
    targets: [{address: "127.0.0.1:9001"}]
"""


def apply(path: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    code = main(["apply", "-f", str(path), "--admin-url", "http://127.0.0.1:9", *extra])
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "services: [{name: users, targets: [{address: '127.0.0.1:1', weight: 99999}]}]",
            "services.users.targets.0.weight",
        ),
        ("services: [{name: users, retires: 2}]", "services.users.retires: unknown field"),
        ("services: [{targets: []}]", "services.0.name: required field is missing"),
        ("routes: [{name: r, paths: ['/x'], service: nowhere}]", "routes.r.service"),
        ("servics: []", "servics: unknown field"),
        ("- just\n- a list", "the top level must be a mapping"),
        ("services: [unclosed", "not valid YAML or JSON"),
    ],
)
def test_a_bad_file_is_refused_naming_the_file_and_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, message: str
) -> None:
    path = tmp_path / "gateway.yaml"
    path.write_text(text)
    code, err = apply(path, capsys, "--token", "t" * 20)
    assert code == 1
    assert str(path) in err and message in err


def test_a_missing_file_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = apply(tmp_path / "absent.yaml", capsys, "--token", "t" * 20)
    assert code == 1 and "cannot read" in err


def test_apply_without_a_token_says_how_to_give_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FLEETGATE_ADMIN_TOKEN", raising=False)
    monkeypatch.delenv("FLEETGATE_TOKEN", raising=False)
    path = tmp_path / "gateway.yaml"
    path.write_text(VALID)
    code = main(["apply", "-f", str(path), "--admin-url", "http://127.0.0.1:9"])
    assert code == 1
    assert "FLEETGATE_ADMIN_TOKEN" in capsys.readouterr().err


def test_an_unreachable_admin_api_is_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "gateway.yaml"
    path.write_text(VALID)
    code, err = apply(path, capsys, "--token", "t" * 20)
    assert code == 1 and "cannot reach the admin API at http://127.0.0.1:9" in err


def test_an_empty_diff_prints_no_changes() -> None:
    empty = {k: {"added": [], "removed": [], "changed": []} for k in ("services", "routes")}
    assert render_diff(empty) == "no changes\n"


def test_a_diff_prints_each_entity_with_its_changed_fields() -> None:
    diff = {
        "services": {
            "added": [{"name": "orders"}],
            "removed": [{"name": "legacy"}],
            "changed": [
                {
                    "name": "users",
                    "before": {"name": "users"},
                    "after": {"name": "users", "retries": 3},
                }
            ],
        }
    }
    assert render_diff(diff) == (
        "services:\n"
        "  + orders\n"
        "  ~ users: retries (default) -> 3\n"
        "  - legacy\n"
        "1 added, 1 changed, 1 removed\n"
    )
