"""Measuring one proxy in one scenario: start it, prove it forwards, load it, stop it."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from bench import wrk
from bench.peers.base import Launch, Peer, Ports
from bench.ports import free_port
from bench.probe import NotReady, fetch, wait_until_ok
from bench.process import BenchProcess, ProcessExited
from bench.procfs import cpu_seconds_between, cpu_times, peak_rss_bytes, process_tree
from bench.scenarios import Scenario
from bench.toolchain import Toolchain
from bench.upstream import expected_body

MB = 1024 * 1024


@dataclass(frozen=True)
class Rig:
    """What every measurement shares: tools, the running upstream, a scratch directory."""

    tools: Toolchain
    upstream_port: int
    workdir: Path
    report_script: Path
    env: dict[str, str]
    duration_s: int = 5
    runs: int = 3
    warmup_s: int = 1


@dataclass(frozen=True)
class RunFigures:
    """One wrk run against one proxy, with the proxy's CPU time and memory."""

    requests: int
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    cpu_s: float
    requests_per_cpu_s: float
    peak_rss_mb: float
    failed: int


@dataclass
class PeerResult:
    peer: str
    runs: list[RunFigures] = field(default_factory=list)
    skipped: str | None = None
    error: str | None = None
    processes: int = 0


class CheckFailed(RuntimeError):
    """The proxy answered, but not what its setup promises."""


def _verify(process: BenchProcess, launch: Launch, scenario: Scenario, port: int) -> None:
    answer = wait_until_ok(
        port, scenario.path, launch.start_deadline_s, launch.headers, process.check_alive
    )
    expected = expected_body(scenario.path)
    if answer.body != expected:
        raise CheckFailed(
            f"GET {scenario.path} answered {len(answer.body)} bytes that are not the "
            f"upstream's {len(expected)}"
        )
    for check in launch.checks:
        got = fetch(check.port or port, check.path, check.headers).status
        if got != check.status:
            raise CheckFailed(f"{check.why}: expected {check.status}, got {got}")


def _run_once(rig: Rig, process: BenchProcess, url: str, load: wrk.Load) -> RunFigures:
    before = cpu_times(process_tree(process.pid))
    result = wrk.run(rig.tools.wrk, rig.report_script, url, load)
    tree = process_tree(process.pid)
    cpu_s = cpu_seconds_between(before, cpu_times(tree))
    process.check_alive()
    return RunFigures(
        requests=result.requests,
        requests_per_s=result.requests_per_s,
        p50_ms=result.p50_ms,
        p99_ms=result.p99_ms,
        cpu_s=cpu_s,
        requests_per_cpu_s=result.requests / cpu_s if cpu_s > 0 else 0.0,
        peak_rss_mb=peak_rss_bytes(tree) / MB,
        failed=result.failed,
    )


def measure(rig: Rig, peer: Peer, scenario: Scenario) -> PeerResult:
    """Start `peer` for `scenario`, check it, warm it up, run wrk `rig.runs` times."""
    reason = peer.unsupported(scenario.setup)
    if reason:
        return PeerResult(peer.name, skipped=reason)
    workdir = rig.workdir / f"{scenario.name}-{peer.name}"
    workdir.mkdir(parents=True)
    # nginx workers run as an unprivileged user and must read what is in here.
    os.chmod(workdir, 0o755)
    ports = Ports(proxy=free_port(), upstream=rig.upstream_port)
    launch = peer.launch(rig.tools, workdir, ports, scenario.setup)
    process = BenchProcess(peer.name, launch.argv, workdir / "process.log", rig.env)
    result = PeerResult(peer.name)
    try:
        _verify(process, launch, scenario, ports.proxy)
        url = f"http://127.0.0.1:{ports.proxy}{scenario.path}"
        headers = tuple(f"{name}: {value}" for name, value in launch.headers.items())
        load = wrk.Load(scenario.threads, scenario.connections, rig.duration_s, headers)
        if rig.warmup_s:
            wrk.run(rig.tools.wrk, rig.report_script, url, _with_duration(load, rig.warmup_s))
        for _ in range(rig.runs):
            result.runs.append(_run_once(rig, process, url, load))
        result.processes = len(process_tree(process.pid))
    except (NotReady, ProcessExited, CheckFailed, wrk.WrkError, OSError) as exc:
        result.error = f"{type(exc).__name__}: {exc}"
    finally:
        process.stop()
    return result


def _with_duration(load: wrk.Load, seconds: int) -> wrk.Load:
    return wrk.Load(load.threads, load.connections, seconds, load.headers, load.timeout_s)
