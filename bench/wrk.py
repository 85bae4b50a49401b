"""Driving wrk and reading its results.

A small Lua `done` hook prints the summary as one JSON line after wrk's own report, so
percentiles come straight from wrk's histogram (in microseconds) instead of being
re-parsed from its rounded text.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

MARKER = "FLEETGATE-BENCH "

REPORT_SCRIPT = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '%s{"requests":%d,"duration_us":%d,"bytes":%d,"connect_errors":%d,"read_errors":%d,'
    .. '"write_errors":%d,"status_errors":%d,"timeouts":%d,'
    .. '"p50_us":%d,"p99_us":%d,"max_us":%d}\\n',
    "MARKER", summary.requests, summary.duration, summary.bytes, e.connect, e.read,
    e.write, e.status, e.timeout,
    latency:percentile(50.0), latency:percentile(99.0), latency.max))
end
""".replace("MARKER", MARKER)


@dataclass(frozen=True)
class WrkRun:
    """What one wrk run measured."""

    requests: int
    duration_s: float
    bytes_read: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    socket_errors: int  # connect, read and write errors and timeouts
    bad_statuses: int  # responses other than 2xx or 3xx

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0

    @property
    def failed(self) -> int:
        return self.socket_errors + self.bad_statuses


@dataclass(frozen=True)
class Load:
    """How wrk loads a proxy: threads, keep-alive connections, seconds, extra headers."""

    threads: int = 1
    connections: int = 64
    duration_s: int = 5
    headers: tuple[str, ...] = ()
    timeout_s: int = 10


class WrkError(RuntimeError):
    """wrk failed or printed no report."""


def parse_report(stdout: str) -> WrkRun:
    """The WrkRun in wrk's output, as printed by REPORT_SCRIPT."""
    for line in stdout.splitlines():
        if line.startswith(MARKER):
            data = json.loads(line[len(MARKER) :])
            return WrkRun(
                requests=data["requests"],
                duration_s=data["duration_us"] / 1e6,
                bytes_read=data["bytes"],
                p50_ms=data["p50_us"] / 1e3,
                p99_ms=data["p99_us"] / 1e3,
                max_ms=data["max_us"] / 1e3,
                socket_errors=data["connect_errors"]
                + data["read_errors"]
                + data["write_errors"]
                + data["timeouts"],
                bad_statuses=data["status_errors"],
            )
    raise WrkError(f"wrk printed no report:\n{stdout[-2000:]}")


def command(wrk: Path, script: Path, url: str, load: Load) -> list[str]:
    argv = [
        str(wrk),
        f"-t{load.threads}",
        f"-c{max(load.connections, load.threads)}",
        f"-d{load.duration_s}s",
        f"--timeout={load.timeout_s}s",
        f"--script={script}",
    ]
    for header in load.headers:
        argv += ["-H", header]
    return [*argv, url]


def write_script(directory: Path) -> Path:
    path = directory / "report.lua"
    path.write_text(REPORT_SCRIPT)
    return path


def run(wrk: Path, script: Path, url: str, load: Load) -> WrkRun:
    """Run wrk once against `url` and return what it measured."""
    argv = command(wrk, script, url, load)
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=load.duration_s + load.timeout_s + 30
        )
    except subprocess.TimeoutExpired as exc:
        raise WrkError(f"wrk did not finish: {' '.join(argv)}") from exc
    if done.returncode != 0:
        raise WrkError(f"wrk exited with {done.returncode}: {done.stderr.strip()[-2000:]}")
    return parse_report(done.stdout)
