"""A worker loads the optional libraries only for a config that uses them, checked in the
worker processes of a real node: each process records what it imported when it exits."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tests.data_plane.running_node import RunningNode, catch_all
from tests.data_plane.scripted_upstream import ScriptedUpstream

# Each one costs a worker megabytes of memory (redis and cryptography some 10 each).
OPTIONAL = {"redis", "jwt", "cryptography", "opentelemetry", "prometheus_client"}

# Put first on the path of every process of the node: when one exits, it writes the
# top-level packages it imported to a file named by its pid.
RECORDER = """\
import atexit, json, os, sys

def _record():
    path = os.path.join({directory!r}, "%d.json" % os.getpid())
    modules = sorted({{name.split(".")[0] for name in sys.modules}})
    with open(path, "w") as out:
        json.dump({{"argv": sys.argv, "modules": modules}}, out)

atexit.register(_record)
"""


def worker_imports(directory: Path, config: dict[str, Any], scripted: ScriptedUpstream) -> set[str]:
    """The optional packages the node's worker loaded serving `config` (one request)."""
    hooks = directory / "hooks"
    records = directory / "records"
    hooks.mkdir()
    records.mkdir()
    (hooks / "sitecustomize.py").write_text(RECORDER.format(directory=str(records)))
    path = os.pathsep.join(filter(None, [str(hooks), os.environ.get("PYTHONPATH")]))
    node = RunningNode(directory, config, env={"PYTHONPATH": path})
    node.start()
    try:
        node.get("/app/x", {"Authorization": "Bearer not-a-token"})
    finally:
        assert node.stop() == 0, node.log()
    found = [json.loads(path.read_text()) for path in records.glob("*.json")]
    workers = [r for r in found if r["argv"] and r["argv"][0].endswith("data_plane/worker.py")]
    assert len(workers) == 1, found
    return OPTIONAL & set(workers[0]["modules"])


def test_a_worker_serving_a_plain_config_loads_no_optional_library(
    tmp_path: Path, scripted: ScriptedUpstream
) -> None:
    assert worker_imports(tmp_path, catch_all(scripted.address), scripted) == set()


def test_a_worker_loads_pyjwt_and_cryptography_for_a_route_that_takes_jwts(
    tmp_path: Path, scripted: ScriptedUpstream
) -> None:
    config = catch_all(scripted.address)
    config["routes"][0]["auth"] = {
        "methods": ["jwt"],
        "jwt": {"algorithms": ["HS256"], "secret": "s" * 32},
    }
    assert worker_imports(tmp_path, config, scripted) == {"jwt", "cryptography"}
