"""Config changes under steady load: what a requester sees while a node swaps configs.

One real `fleetgate data-plane --config FILE --workers 1` serves 10,000 routes in front
of nginx. A paced client (its own process) sends a steady rate of requests that does
not saturate the worker, first with no change, then while the file changes one route
at a time and the node reloads it on SIGHUP, `changes` times. Latency is measured from
each request's scheduled send time, so a stalled loop shows up in full (no coordinated
omission). The worker's loop-lag probe (a timer every millisecond) says how long its
loop was held at most; then the node takes `memory_changes` more changes without load,
and its worker's resident memory after them is compared with after the first.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from bench.ports import free_port
from bench.process import BenchProcess
from bench.sync.compile_swap import route_paths
from bench.upstream import nginx_config

SERVICES = 100
PATH = "/api/team-3/svc-100/orders/12345"  # route-100's
READY_TIMEOUT = 60.0
LAG_BOUNDS_LABEL = "fleetgate_worker_loop_lag_seconds_bucket"


def gateway(routes: int, upstream: str, changed: int = 0) -> dict[str, Any]:
    """`routes` routes over 100 services; the first `changed` routes moved to new paths."""
    specs: list[dict[str, Any]] = []
    for r in range(routes):
        paths = route_paths(r, "/api")
        if r < changed and r != 100:
            paths = [f"/moved/{r}/**"]
        specs.append({"name": f"route-{r}", "paths": paths, "service": f"svc-{r % SERVICES}"})
    services = [{"name": f"svc-{s}", "targets": [{"address": upstream}]} for s in range(SERVICES)]
    return {"services": services, "routes": specs}


def run_swap_load(
    routes: int = 10_000,
    rate: int = 1000,
    seconds: float = 10.0,
    changes: int = 20,
    memory_changes: int = 100,
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="fleetgate-bench-swapload-") as tmp:
        return _measure(Path(tmp), routes, rate, seconds, changes, memory_changes)


def _measure(
    tmp: Path, routes: int, rate: int, seconds: float, changes: int, memory_changes: int
) -> dict[str, Any]:
    upstream_port = free_port()
    (tmp / "nginx.conf").write_text(nginx_config(tmp, upstream_port, 1))
    upstream = BenchProcess("upstream", ["nginx", "-c", str(tmp / "nginx.conf")], tmp / "nginx.log")
    config_file = tmp / "gateway.yaml"
    config_file.write_text(yaml.safe_dump(gateway(routes, f"127.0.0.1:{upstream_port}")))
    port, status_port = free_port(), free_port()
    node = BenchProcess(
        "node",
        [
            sys.executable,
            "-m",
            "control_plane.cli",
            "data-plane",
            "--config",
            str(config_file),
            "--listen",
            f"127.0.0.1:{port}",
            "--status-listen",
            f"127.0.0.1:{status_port}",
            "--workers",
            "1",
            "--cache-dir",
            str(tmp / "cache"),
        ],
        tmp / "node.log",
        env={**os.environ, "FLEETGATE_LOOP_PROBE_INTERVAL": "0.001"},
    )
    try:
        status = f"http://127.0.0.1:{status_port}"
        hash_now = _wait_ready(status, node)
        steady_lag = _lag_buckets(status)
        steady = _paced(port, rate, seconds)
        steady_lag = _lag_diff(steady_lag, _lag_buckets(status))

        applies: list[float] = []
        changing_lag = _lag_buckets(status)
        client = _start_paced(port, rate, seconds)
        spacing = seconds / (changes + 1)
        started = time.monotonic()
        upstream_text = f"127.0.0.1:{upstream_port}"
        for change in range(1, changes + 1):
            time.sleep(max(0.0, started + change * spacing - time.monotonic()))
            config_file.write_text(yaml.safe_dump(gateway(routes, upstream_text, change)))
            sent = time.monotonic()
            node.popen.send_signal(signal.SIGHUP)
            hash_now = _wait_hash_change(status, hash_now, node)
            applies.append(time.monotonic() - sent)
        during = _finish_paced(client)
        changing_lag = _lag_diff(changing_lag, _lag_buckets(status))

        rss_first = rss_last = 0
        for change in range(memory_changes):
            config_file.write_text(
                yaml.safe_dump(gateway(routes, upstream_text, changes + 1 + change))
            )
            node.popen.send_signal(signal.SIGHUP)
            hash_now = _wait_hash_change(status, hash_now, node)
            if change == 0:
                rss_first = _worker_rss(node.pid)
        rss_last = _worker_rss(node.pid)
    finally:
        node.stop()
        upstream.stop()
    return {
        "routes": routes,
        "rate": rate,
        "seconds": seconds,
        "steady": {**steady, "loop_lag_max_le_ms": _max_bucket_ms(steady_lag)},
        "changing": {**during, "loop_lag_max_le_ms": _max_bucket_ms(changing_lag)},
        "changes": changes,
        "apply_median_ms": statistics.median(applies) * 1000,
        "apply_max_ms": max(applies) * 1000,
        "memory_changes": memory_changes,
        "worker_rss_after_first_mb": rss_first / 2**20,
        "worker_rss_after_last_mb": rss_last / 2**20,
    }


# ---------------------------------------------------------------- the node's status port


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as answer:
        body: bytes = answer.read()
        return body


def _wait_ready(status: str, node: BenchProcess) -> str:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        node.check_alive()
        try:
            ready: dict[str, Any] = json.loads(_get(status + "/ready"))
            return str(ready["hash"])
        except (OSError, ValueError, KeyError):
            time.sleep(0.1)
    raise RuntimeError(f"the node was not ready in {READY_TIMEOUT} s:\n{node.log_tail()}")


def _wait_hash_change(status: str, old: str, node: BenchProcess) -> str:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        new = _wait_ready(status, node)
        if new != old:
            return new
        time.sleep(0.002)
    raise RuntimeError(f"the node did not reload in {READY_TIMEOUT} s:\n{node.log_tail()}")


def _lag_buckets(status: str) -> dict[str, float]:
    buckets: dict[str, float] = {}
    for line in _get(status + "/metrics").decode().splitlines():
        if line.startswith(LAG_BOUNDS_LABEL):
            labels, _, value = line.rpartition(" ")
            buckets[labels.split('le="')[1].split('"')[0]] = float(value)
    return buckets


def _lag_diff(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {le: after[le] - before.get(le, 0.0) for le in after}


def _max_bucket_ms(cumulative: dict[str, float]) -> float:
    """The upper bound of the highest bucket any lag fell in, in milliseconds."""
    total = cumulative.get("+Inf", 0.0)
    bounds = sorted((float(le), count) for le, count in cumulative.items())
    for bound, count in bounds:
        if count >= total:
            return bound * 1000
    return float("inf")


def _worker_rss(supervisor: int) -> int:
    children = Path(f"/proc/{supervisor}/task/{supervisor}/children").read_text().split()
    total = 0
    for pid in children:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) * 1024
    return total


# ---------------------------------------------------------------- the paced client


def _paced(port: int, rate: int, seconds: float) -> dict[str, Any]:
    return _finish_paced(_start_paced(port, rate, seconds))


def _start_paced(port: int, rate: int, seconds: float) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "bench.sync.swap_load", str(port), str(rate), str(seconds)],
        stdout=subprocess.PIPE,
    )


def _finish_paced(client: subprocess.Popen[bytes]) -> dict[str, Any]:
    out, _ = client.communicate(timeout=120)
    result: dict[str, Any] = json.loads(out)
    return result


CONNECTIONS = 8


async def _client(port: int, rate: int, seconds: float) -> dict[str, Any]:
    request = f"GET {PATH} HTTP/1.1\r\nHost: bench\r\n\r\n".encode()
    latencies: list[float] = []
    failures = 0
    interval = CONNECTIONS / rate
    start = time.perf_counter() + 0.2
    end = start + seconds

    async def one(offset: float) -> None:
        nonlocal failures
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        due = start + offset
        while due < end:
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            writer.write(request)
            try:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                await reader.readexactly(length)
                if not head.startswith(b"HTTP/1.1 200"):
                    failures += 1
            except (OSError, asyncio.IncompleteReadError, ValueError):
                failures += 1
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            latencies.append(time.perf_counter() - due)
            due += interval
        writer.close()

    await asyncio.gather(*(one(i * interval / CONNECTIONS) for i in range(CONNECTIONS)))
    latencies.sort()
    return {
        "requests": len(latencies),
        "failures": failures,
        "p50_ms": latencies[len(latencies) // 2] * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
        "max_ms": latencies[-1] * 1000,
    }


if __name__ == "__main__":
    print(json.dumps(asyncio.run(_client(int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])))))
