"""The data plane stays light: it never loads the control plane or its heavy dependencies."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ["control_plane", "fastapi", "starlette", "sqlalchemy", "alembic", "uvicorn", "psycopg"]

# Prints the heavy top-level packages loaded after running the given imports.
PROBE = """
import importlib, json, pkgutil, sys
{imports}
heavy = {heavy!r}
print(json.dumps(sorted({{m.split(".")[0] for m in sys.modules}} & set(heavy))))
"""


def heavy_modules_after(imports: str) -> list[str]:
    code = PROBE.format(imports=imports, heavy=HEAVY)
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    loaded: list[str] = json.loads(done.stdout)
    return loaded


def test_no_data_plane_module_loads_the_control_plane_or_its_dependencies() -> None:
    imports = (
        "import data_plane\n"
        "for info in pkgutil.walk_packages(data_plane.__path__, 'data_plane.'):\n"
        "    importlib.import_module(info.name)\n"
    )
    assert heavy_modules_after(imports) == []


def test_the_data_plane_command_loads_no_control_plane_dependency() -> None:
    imports = (
        "from control_plane.cli import _handler, build_parser\n"
        "_handler(build_parser().parse_args(['data-plane']))\n"
    )
    assert heavy_modules_after(imports) == ["control_plane"]
