"""The compiled twins of fleetgate's hot modules, built by `pip install` with Cython.

Everything else about the package is in pyproject.toml. A module listed here is
written once in plain Python and compiled by Cython in pure-Python mode: `X.py` becomes
the extension `X_c`, typed by `X_c.pxd` beside it, while `X.py` stays importable as
the pure-Python twin (`data_plane/extensions.py` chooses between them). A `.pyx`
source, for code with no pure-Python twin, compiles under its own name. Adding an
extension is adding its source to EXTENSIONS.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_py import build_py

MIGRATIONS = Path(__file__).resolve().parent / "migrations"

EXTENSIONS = [
    "data_plane/access_lines.py",
    "data_plane/policies/chain.py",
    "data_plane/policies/auth.py",
    "data_plane/limits/decisions.py",
    "data_plane/http/heads.py",
    "data_plane/http/state.py",
    "data_plane/http/upstream.py",
    "data_plane/http/pool.py",
    "data_plane/http/exchange.py",
    "data_plane/http/downstream.py",
    "data_plane/plan.py",  # the route plans and services the exchange reads, loaded with the core
    "data_plane/limits/spin_lock.pyx",
    "data_plane/routing/lookup.py",
    "data_plane/trace_context.py",
    "data_plane/http/request_line.py",
    "data_plane/limits/local_limit.py",
    "data_plane/policies/consumers.py",  # the consumer directory the compiled auth policy reads
    "data_plane/config/entries.pyx",
]


def extension(source: str) -> Extension:
    path = Path(source)
    name = ".".join(path.with_suffix("").parts)
    if path.suffix == ".py":
        name += "_c"
    return Extension(name, [source])


class BuildWithMigrations(build_py):
    """build_py, plus the migrations copied into the built control_plane/store."""

    def run(self) -> None:
        super().run()
        if self.editable_mode:  # an editable install reads them from the checkout
            return
        target = Path(self.build_lib) / "control_plane" / "store" / "migrations"
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(MIGRATIONS, target, ignore=shutil.ignore_patterns("__pycache__"))


setup(
    cmdclass={"build_py": BuildWithMigrations},
    ext_modules=cythonize(
        [extension(source) for source in EXTENSIONS],
        build_dir="build/cython",
        # Cython tracks X.pxd beside X.py, not the X_c.pxd the twins use: always regenerate.
        force=True,
        compiler_directives={
            "language_level": 3,
            # Safety over the last nanosecond: indexes are checked, negative ones wrap
            # as in Python, and division by zero raises.
            "boundscheck": True,
            "wraparound": True,
            "cdivision": False,
            "initializedcheck": True,
            "embedsignature": True,
            # The C types come from the .pxd alone; annotations are for mypy.
            "annotation_typing": False,
            # The pure-Python spelling behind `if cython.compiled` is dead code here.
            "warn.unreachable": False,
        },
    ),
)
