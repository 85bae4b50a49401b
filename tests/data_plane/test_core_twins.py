"""The proxy core's compiled twins: which ones a process runs, and that they load.

state, upstream, pool, exchange and downstream are compiled by Cython into `*_c`
extension modules that hold each other's classes as C types; `data_plane.http.core`
loads all of them or none. In CI the compiled ones must exist and be the ones the
proxy runs: a build that silently fell back to Python would leave the fast path
untested and unmeasured. `make test` runs the protocol tests a second time with
`FLEETGATE_NO_EXTENSIONS=1`, and this file with them.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from data_plane import extensions
from data_plane.http import core, head_path

NAMES = (
    "data_plane.http.state",
    "data_plane.http.upstream",
    "data_plane.http.pool",
    "data_plane.plan",
    "data_plane.http.exchange",
    "data_plane.http.downstream",
)
IN_CI = os.environ.get("CI") == "true"


def compiled_or_skip() -> list[ModuleType]:
    try:
        return [importlib.import_module(name + "_c") for name in NAMES]
    except ImportError as exc:
        if IN_CI:
            pytest.fail(f"the compiled proxy core was not built: {exc}", pytrace=False)
        pytest.skip(f"the compiled proxy core is not built here: {exc}")


def test_the_proxy_runs_the_core_the_environment_names() -> None:
    if extensions.NO_EXTENSIONS:
        assert not core.COMPILED
        assert all(not extensions.is_compiled(m) for m in (core.downstream, core.exchange))
        return
    compiled = compiled_or_skip()
    assert core.COMPILED, "the compiled proxy core did not load: the build is broken"
    assert [core.state, core.upstream, core.pool, core.plan, core.exchange, core.downstream] == (
        compiled
    )
    assert core.DownstreamConnection.__module__ == "data_plane.http.downstream_c"
    assert core.Exchange.__module__ == "data_plane.http.exchange_c"
    assert core.ServicePool.__module__ == "data_plane.http.pool_c"
    assert core.RoutePlan.__module__ == "data_plane.plan_c"


def test_the_core_and_the_head_path_run_in_the_same_mode() -> None:
    # The compiled core holds heads_c's parsers as C types: it cannot run with the pure ones.
    assert core.COMPILED == head_path.COMPILED


def test_load_together_falls_back_to_python_for_all_when_one_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(extensions, "NO_EXTENSIONS", False)
    # data_plane.extensions has no compiled twin: none of the list may run compiled then.
    loaded = extensions.load_together("data_plane.http.state", "data_plane.extensions")
    assert [m.__name__ for m in loaded] == ["data_plane.http.state", "data_plane.extensions"]


def test_no_extensions_loads_every_pure_twin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(extensions, "NO_EXTENSIONS", True)
    assert [m.__name__ for m in extensions.load_together(*NAMES)] == list(NAMES)


@pytest.mark.parametrize("setting", ["1", ""])
def test_the_environment_switch_moves_the_whole_process(setting: str) -> None:
    if setting == "":
        compiled_or_skip()
    probe = (
        "from data_plane.http import core, head_path\n"
        "print(core.COMPILED, head_path.COMPILED, core.Exchange.__module__)"
    )
    env = {**os.environ, "FLEETGATE_NO_EXTENSIONS": setting}
    out = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
    )
    expected = "False False data_plane.http.exchange" if setting else "True True"
    assert out.stdout.strip().startswith(expected)


def test_the_compiled_twins_are_built_from_the_current_source() -> None:
    for module in compiled_or_skip():
        built = Path(module.__file__ or "").stat().st_mtime
        twin = module.__name__.rpartition(".")[2].removesuffix("_c")
        for source in (f"{twin}.py", f"{twin}_c.pxd"):
            path = Path(module.__file__ or "").with_name(source)
            assert path.stat().st_mtime <= built, f"{source} changed since the build: make .venv"
