"""One bench run: the upstream up, every chosen scenario and peer measured, one report."""

from __future__ import annotations

import importlib
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import machine, report, wrk
from bench.measure import Rig, measure_scenario
from bench.peers import PEERS
from bench.ports import free_port
from bench.probe import NotReady, wait_until_ok
from bench.process import BenchProcess, ProcessExited
from bench.scenarios import all_scenarios, scaling_unavailable
from bench.summary import scaling_by_peer
from bench.toolchain import Toolchain, find_or_install
from bench.upstream import HIT_PATH, nginx_config

CONFIG_SCENARIOS = "config"
REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"


class UpstreamError(RuntimeError):
    """The upstream every proxy forwards to could not be started."""


@dataclass(frozen=True)
class Options:
    scenarios: list[str]  # scenario names, "config" included when wanted
    peers: list[str]
    duration_s: int = 5
    runs: int = 3
    warmup_s: int = 1
    output_dir: Path = RESULTS
    allow_install: bool = True
    command: str = "python -m bench"
    say: Callable[[str], None] = field(default=lambda text: print(text, file=sys.stderr))


def _environment() -> dict[str, str]:
    # The Python peers are modules of this checkout, whatever the caller's directory.
    path = os.environ.get("PYTHONPATH")
    root = str(REPO_ROOT)
    return {**os.environ, "PYTHONPATH": f"{root}{os.pathsep}{path}" if path else root}


def _config_scenarios() -> dict[str, Any]:
    """The config-sync figures from bench.sync, or why there are none."""
    try:
        run_sync_benchmarks = importlib.import_module("bench.sync").run_sync_benchmarks
    except (ImportError, AttributeError) as exc:
        return {"not_available": f"bench.sync.run_sync_benchmarks: {exc}"}
    try:
        figures: dict[str, Any] = run_sync_benchmarks()
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}
    return figures


def _header(document: dict[str, Any]) -> str:
    host = document["machine"]
    tools = "; ".join(document["tools"].values())
    return (
        f"{document['command']}\n"
        f"{host['cores']} cores, {host['cpu']}, Linux {host['kernel']}, Python {host['python']}\n"
        f"{tools}\n"
    )


@contextmanager
def running_upstream(
    tools: Toolchain, workdir: Path, workers: int, env: dict[str, str]
) -> Iterator[int]:
    """The nginx upstream, answering, for the duration of the block; yields its port."""
    port = free_port()
    conf = workdir / "upstream.conf"
    conf.write_text(nginx_config(workdir, port, workers))
    argv = [str(tools.nginx), "-p", str(workdir), "-c", str(conf)]
    upstream = BenchProcess("upstream", argv, workdir / "upstream.log", env)
    try:
        try:
            wait_until_ok(port, HIT_PATH, 10.0, alive=upstream.check_alive)
        except (NotReady, ProcessExited) as exc:
            raise UpstreamError(f"the nginx upstream did not start: {exc}") from exc
        yield port
    finally:
        upstream.stop()


def run(options: Options) -> dict[str, Any]:
    """Measure, print each table as it completes, write the JSON; returns the document."""
    say = options.say
    tools = find_or_install(options.allow_install)
    cores = os.cpu_count() or 1
    known = {s.name: s for s in all_scenarios(cores)}
    chosen = [known[name] for name in options.scenarios if name in known]
    document: dict[str, Any] = {
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": options.command,
        "machine": machine.describe(),
        "tools": tools.versions(),
        "settings": {
            "duration_s": options.duration_s,
            "runs": options.runs,
            "warmup_s": options.warmup_s,
        },
        "scenarios": [],
    }
    print(_header(document), flush=True)
    scaling_gap = scaling_unavailable(cores)
    if scaling_gap and "scaling" in options.scenarios:
        document["scaling_skipped"] = scaling_gap
        say(f"scaling: skipped: {scaling_gap}")
    with tempfile.TemporaryDirectory(prefix="fleetgate-bench-") as scratch:
        workdir = Path(scratch)
        os.chmod(workdir, 0o755)  # nginx workers read the upstream's file in here
        env = _environment()
        workers = max([s.setup.workers for s in chosen] or [1])
        with running_upstream(tools, workdir, workers, env) as upstream_port:
            rig = Rig(
                tools,
                upstream_port,
                workdir,
                wrk.write_script(workdir),
                env,
                options.duration_s,
                options.runs,
                options.warmup_s,
            )
            for scenario in chosen:
                peers = [PEERS[name] for name in scenario.peers if name in options.peers]
                entry = report.scenario_json(scenario, measure_scenario(rig, scenario, peers, say))
                document["scenarios"].append(entry)
                table = report.render_scenario(entry, options.duration_s, options.runs)
                print(table + "\n", flush=True)
    scaling = scaling_by_peer(document["scenarios"])
    if scaling:
        document["scaling_efficiency"] = scaling
        print(
            report.render_mapping(
                "scaling efficiency (req/s at N workers / (N x 1 worker))", scaling
            )
        )
    if CONFIG_SCENARIOS in options.scenarios:
        say("[config] bench.sync ...")
        document["config"] = _config_scenarios()
        print(report.render_mapping("config scenarios (bench.sync)", document["config"]) + "\n")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = report.write(document, options.output_dir, stamp)
    say(f"results written to {path}")
    return document
