"""Measuring the proxies of one scenario: start them, prove they forward, load them in turns.

All peers of a scenario run side by side and are measured in rounds (nginx, then
fleetgate, then the others, then again), so a slow spell of a shared machine falls on
every peer alike instead of on whichever was measured during it.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench import wrk
from bench.peers.base import Launch, Peer, Ports
from bench.ports import free_port
from bench.probe import NotReady, fetch, wait_until_ok
from bench.process import BenchProcess, ProcessExited
from bench.procfs import (
    cpu_seconds_between,
    cpu_times,
    peak_rss_by_pid,
    process_tree,
    worker_rss_bytes,
)
from bench.scenarios import Scenario
from bench.toolchain import Toolchain
from bench.upstream import expected_body

MB = 1024 * 1024
# A proxy is idle again when it spends less than this share of a core...
IDLE_CPU_SHARE = 0.1
# ...over this many seconds; an overloaded one gets at most SETTLE_LIMIT_S to drain.
IDLE_WINDOW_S = 0.25
SETTLE_LIMIT_S = 10.0
FAILURES = (NotReady, ProcessExited, wrk.WrkError, OSError)


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
    # None when no request completed within the run.
    p50_ms: float | None
    p99_ms: float | None
    cpu_s: float
    requests_per_cpu_s: float
    peak_rss_mb: float  # the whole process tree
    worker_rss_mb: float  # per worker: the tree without its master, when it has one
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


@dataclass
class Contender:
    """A started proxy of the scenario being measured."""

    process: BenchProcess
    url: str
    load: wrk.Load
    result: PeerResult


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


def _start(rig: Rig, peer: Peer, scenario: Scenario, result: PeerResult) -> Contender:
    workdir = rig.workdir / f"{scenario.name}-{peer.name}"
    workdir.mkdir(parents=True)
    # nginx workers run as an unprivileged user and must read what is in here.
    os.chmod(workdir, 0o755)
    setup = scenario.setup
    ports = Ports(
        proxy=free_port(), upstream=rig.upstream_port, tls=free_port() if setup.tls else 0
    )
    launch = peer.launch(rig.tools, workdir, ports, scenario.setup)
    env = {**rig.env, **launch.env} if launch.env else rig.env
    process = BenchProcess(peer.name, launch.argv, workdir / "process.log", env)
    try:
        _verify(process, launch, scenario, ports.proxy)
    except BaseException:
        process.stop()
        raise
    headers = tuple(f"{name}: {value}" for name, value in launch.headers.items())
    if setup.new_connections:
        headers += ("Connection: close",)
    load = wrk.Load(scenario.threads, scenario.connections, rig.duration_s, headers)
    if setup.tls:
        url = f"https://127.0.0.1:{ports.tls}{scenario.path}"
    else:
        url = f"http://127.0.0.1:{ports.proxy}{scenario.path}"
    return Contender(process, url, load, result)


def _settle(process: BenchProcess) -> None:
    """Wait until the proxy has drained what the last run left queued, within a bound."""
    give_up = time.monotonic() + SETTLE_LIMIT_S
    while time.monotonic() < give_up:
        before = cpu_times(process_tree(process.pid))
        time.sleep(IDLE_WINDOW_S)
        spent = cpu_seconds_between(before, cpu_times(process_tree(process.pid)))
        if spent < IDLE_CPU_SHARE * IDLE_WINDOW_S:
            return


def _run_once(rig: Rig, contender: Contender) -> RunFigures:
    process = contender.process
    before = cpu_times(process_tree(process.pid))
    result = wrk.run(rig.tools.wrk, rig.report_script, contender.url, contender.load)
    tree = process_tree(process.pid)
    cpu_s = cpu_seconds_between(before, cpu_times(tree))
    peaks = peak_rss_by_pid(tree)
    process.check_alive()
    completed = result.requests > 0
    return RunFigures(
        requests=result.requests,
        requests_per_s=result.requests_per_s,
        p50_ms=result.p50_ms if completed else None,
        p99_ms=result.p99_ms if completed else None,
        cpu_s=cpu_s,
        requests_per_cpu_s=result.requests / cpu_s if cpu_s > 0 else 0.0,
        peak_rss_mb=sum(peaks.values()) / MB,
        worker_rss_mb=worker_rss_bytes(process.pid, peaks) / MB,
        failed=result.failed,
    )


def _fail(result: PeerResult, exc: BaseException) -> None:
    result.error = f"{type(exc).__name__}: {exc}"


def measure_scenario(
    rig: Rig, scenario: Scenario, peers: list[Peer], say: Callable[[str], None]
) -> list[PeerResult]:
    """Start every peer for `scenario`, warm each up, then run wrk in `rig.runs` rounds."""
    results = [PeerResult(peer.name) for peer in peers]
    contenders: list[Contender] = []
    try:
        for peer, result in zip(peers, results, strict=True):
            result.skipped = peer.unsupported(scenario.setup)
            if result.skipped:
                continue
            say(f"[{scenario.name}] starting {peer.name}")
            try:
                contenders.append(_start(rig, peer, scenario, result))
            except (*FAILURES, CheckFailed) as exc:
                _fail(result, exc)
        if rig.warmup_s:
            for contender in contenders:
                _warm_up(rig, contender)
        for round_number in range(1, rig.runs + 1):
            live = [c for c in contenders if not c.result.error]
            if not live:
                break
            say(f"[{scenario.name}] round {round_number} of {rig.runs}")
            for contender in live:
                try:
                    contender.result.runs.append(_run_once(rig, contender))
                    _settle(contender.process)
                except FAILURES as exc:
                    _fail(contender.result, exc)
        for contender in contenders:
            contender.result.processes = len(process_tree(contender.process.pid))
    finally:
        for contender in contenders:
            contender.process.stop()
    return results


def _warm_up(rig: Rig, contender: Contender) -> None:
    warmup = dataclasses.replace(contender.load, duration_s=rig.warmup_s)
    try:
        wrk.run(rig.tools.wrk, rig.report_script, contender.url, warmup)
        _settle(contender.process)
    except FAILURES as exc:
        _fail(contender.result, exc)
