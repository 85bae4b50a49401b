"""Which implementation of a twin module runs: the compiled extension or the pure Python.

A twin module is written once in plain Python (`data_plane/http/heads.py`) and also
compiled by Cython into `<module>_c` when the package is installed (setup.py). The
compiled one is used when it is there; `FLEETGATE_NO_EXTENSIONS=1` selects the pure
Python one, as `AIOHTTP_NO_EXTENSIONS` does for aiohttp, and a build without a C
compiler simply runs the pure Python one. Both pass the same tests and a fuzz target
holds them to the same output for the same bytes.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

NO_EXTENSIONS = os.environ.get("FLEETGATE_NO_EXTENSIONS", "") not in ("", "0")


def load(name: str) -> ModuleType:
    """The compiled twin of module `name` unless switched off or not built, else `name`."""
    if not NO_EXTENSIONS:
        try:
            return importlib.import_module(name + "_c")
        except ImportError:
            pass
    return importlib.import_module(name)


def load_together(*names: str) -> list[ModuleType]:
    """The compiled twins of all of `names`, or else their pure-Python twins, in order.

    Twins that hold each other's compiled classes (the proxy core's) work in one mode
    only: when one of them is switched off or not built, all run as Python.
    """
    if not NO_EXTENSIONS:
        try:
            return [importlib.import_module(name + "_c") for name in names]
        except ImportError:
            pass
    return [importlib.import_module(name) for name in names]


def is_compiled(module: ModuleType) -> bool:
    """Whether `module` is an extension module rather than Python source."""
    return not (module.__file__ or "").endswith(".py")
