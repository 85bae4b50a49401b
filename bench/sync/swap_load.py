"""Config changes under steady load: what a requester sees while a node swaps configs.

One real `fleetgate data-plane --workers 1` serves 10,000 routes in front of nginx, and
takes its config from this process, which runs the control plane's sync side (snapshot
cache and ConfigSync service, on loopback) as `compile_swap` does. Each change moves
one route and is pushed over the real stream; its push -> ACK time is taken when the
node's ACK arrives (compile, swap, and the write of the node's disk cache).

A paced client (its own process) sends a steady rate of requests that does not
saturate the worker, first with no change, then while the config changes `changes`
times. Latency is measured from each request's scheduled send time, so a stalled loop
shows up in full (no coordinated omission). The worker's loop-lag probe (a timer every
millisecond) says how long its loop was held at most. Without load, the bench also
times one-route changes, full 10,000-route compiles (every route changed but the
measured one), the worker's resident memory after `memory_changes` changes against
after the first, and the CPU time each one-route change costs the node's supervisor and
its worker (from /proc, over those changes, less what the idle node spends meanwhile);
then it times full compiles again under the same steady load, with the latency and loop
lag meanwhile.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench.ports import free_port
from bench.process import BenchProcess
from bench.procfs import cpu_seconds_between, cpu_times
from bench.sync.compile_swap import AckLog, route_paths, serve_sync, start_node
from bench.upstream import nginx_config
from control_plane.sync.cache import CachedRelease, SnapshotCache
from data_plane.config.model import GatewayConfig
from data_plane.config.snapshot import build_snapshot

SERVICES = 100
MEASURED = 100  # the route the client requests: never changed under load
PATH = "/api/team-3/svc-100/orders/12345"  # route-100's
READY_TIMEOUT = 60.0
ACK_TIMEOUT = 60.0
IDLE_CHANGES = 10
FULL_COMPILES = 3
IDLE_CPU_SECONDS = 2.0  # how long the idle node's own CPU time is read for
LAG_BOUNDS_LABEL = "fleetgate_worker_loop_lag_seconds_bucket"


def gateway(routes: int, upstream: str, changed: int = 0) -> dict[str, Any]:
    """`routes` routes over 100 services; the first `changed` routes moved to new paths."""
    specs: list[dict[str, Any]] = []
    for r in range(routes):
        paths = route_paths(r, "/api")
        if r < changed and r != MEASURED:
            paths = [f"/moved/{r}/**"]
        specs.append({"name": f"route-{r}", "paths": paths, "service": f"svc-{r % SERVICES}"})
    services = [{"name": f"svc-{s}", "targets": [{"address": upstream}]} for s in range(SERVICES)]
    return {"services": services, "routes": specs}


class Releases:
    """The snapshots this bench pushes: built once, then changed in place, one route (or
    every route) at a time, each change a new version with its content hash."""

    def __init__(self, routes: int, upstream: str) -> None:
        config = GatewayConfig.model_validate(gateway(routes, upstream))
        self.snapshot = build_snapshot(config, version=1, author="bench")
        self.index = {route.name: i for i, route in enumerate(self.snapshot.routes)}
        self.moved = 0  # routes moved so far, in order, never the measured one
        self.full = 0  # full changes so far

    def payload(self) -> tuple[int, str, bytes]:
        """The current snapshot as (version, hash, serialized)."""
        snapshot = self.snapshot
        snapshot.hash = ""
        digest = hashlib.sha256(snapshot.SerializeToString(deterministic=True)).hexdigest()
        snapshot.hash = digest
        return snapshot.version, digest, snapshot.SerializeToString()

    def move_one(self) -> None:
        """The next version: one more route moved to a path of its own."""
        count = len(self.snapshot.routes)
        r = self.moved % (count - 1)
        r = r if r < MEASURED else r + 1
        self.moved += 1
        route = self.snapshot.routes[self.index[f"route-{r}"]]
        del route.paths[:]
        route.paths.append(f"/moved/{r}/{self.moved}/**")
        self.snapshot.version += 1

    def change_all(self) -> None:
        """The next version: every route's paths under a new prefix, but the measured
        route's (the paced client keeps requesting it)."""
        self.full += 1
        prefix = f"/full{self.full}"
        for route in self.snapshot.routes:
            if route.name == f"route-{MEASURED}":
                continue
            paths = [(f"~^{prefix}{p[2:]}" if p[0] == "~" else prefix + p) for p in route.paths]
            del route.paths[:]
            route.paths.extend(paths)
        self.snapshot.version += 1


def run_swap_load(
    routes: int = 10_000,
    rate: int = 1000,
    seconds: float = 10.0,
    changes: int = 20,
    memory_changes: int = 100,
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="fleetgate-bench-swapload-") as tmp:
        return asyncio.run(_measure(Path(tmp), routes, rate, seconds, changes, memory_changes))


class Pusher:
    """Puts releases in the control plane's cache and waits for the node's ACK."""

    def __init__(self, cache: SnapshotCache, acks: AckLog, node: BenchProcess) -> None:
        self.cache = cache
        self.acks = acks
        self.node = node

    async def push(self, releases: Releases | tuple[int, str, bytes]) -> tuple[float, float]:
        """Push the current snapshot of `releases` (or one serialized already); its
        (push -> ACK, the node's apply time) in seconds."""
        version, digest, payload = (
            releases.payload() if isinstance(releases, Releases) else releases
        )
        started = time.monotonic()
        self.cache.put(CachedRelease(version, digest, payload, time.time()))
        try:
            async with asyncio.timeout(ACK_TIMEOUT):
                await self.acks.wait_for(version)
        except TimeoutError:
            log = self.node.log_tail()
            raise RuntimeError(f"no ACK of v{version}; the node's log:\n{log}") from None
        return self.acks.acked_at[version] - started, self.acks.applied[version]


async def _measure(
    tmp: Path, routes: int, rate: int, seconds: float, changes: int, memory_changes: int
) -> dict[str, Any]:
    upstream_port = free_port()
    (tmp / "nginx.conf").write_text(nginx_config(tmp, upstream_port, 1))
    upstream = BenchProcess("upstream", ["nginx", "-c", str(tmp / "nginx.conf")], tmp / "nginx.log")
    token = secrets.token_urlsafe(24)
    cache = SnapshotCache()
    acks = AckLog()
    server, sync_port = await serve_sync(cache, acks, token)
    # Built before the node starts, so building competes with nothing measured.
    releases = Releases(routes, f"127.0.0.1:{upstream_port}")
    port, status_port = free_port(), free_port()
    node = start_node(
        tmp, sync_port, token, port, status_port, FLEETGATE_LOOP_PROBE_INTERVAL="0.001"
    )
    pusher = Pusher(cache, acks, node)
    status = f"http://127.0.0.1:{status_port}"
    try:
        await pusher.push(releases)  # the first config also starts the worker
        await asyncio.to_thread(_wait_ready, status, node)

        idle: list[float] = []
        for _ in range(IDLE_CHANGES):
            releases.move_one()
            idle.append((await pusher.push(releases))[0])

        steady_lag = await asyncio.to_thread(_lag_buckets, status)
        steady = await asyncio.to_thread(_paced, port, rate, seconds)
        steady_lag = _lag_diff(steady_lag, await asyncio.to_thread(_lag_buckets, status))

        # Serialized before the load starts: this process shares the machine's cores
        # with the node, and what a control plane spends is not the node's to measure.
        pushed = []
        for _ in range(changes):
            releases.move_one()
            pushed.append(releases.payload())
        loaded_pushes, during, changing_lag = await _pushed_under_load(
            pusher, pushed, port, rate, seconds, status
        )
        loaded = [wall for wall, _ in loaded_pushes]

        # Twice as many changes again: memory that keeps growing is a leak, memory that
        # settles is the allocator's pools filling. The node's CPU time is read over
        # them, less what it spends idle (ticks, probes, status reports) meanwhile.
        cpu = _NodeCpu(node.pid)
        idle_rates = await cpu.rates(IDLE_CPU_SECONDS)
        cpu.start()
        rss: list[int] = []
        for change in range(2 * memory_changes):
            releases.move_one()
            await pusher.push(releases)
            if change in (0, memory_changes - 1, 2 * memory_changes - 1):
                rss.append(_worker_rss(node.pid))
        per_change = cpu.per_change(2 * memory_changes, idle_rates)

        full_walls: list[float] = []
        full_applies: list[float] = []
        for _ in range(FULL_COMPILES):
            releases.change_all()
            wall, applied = await pusher.push(releases)
            full_walls.append(wall)
            full_applies.append(applied)

        # The same under the steady load: a full compile runs in a thread beside the
        # loop, which takes the interpreter back every millisecond, so it takes longer.
        fulls = []
        for _ in range(FULL_COMPILES):
            releases.change_all()
            fulls.append(releases.payload())
        full_pushes, during_full, full_lag = await _pushed_under_load(
            pusher, fulls, port, rate, seconds, status
        )
        loaded_walls = [wall for wall, _ in full_pushes]
        loaded_applies = [applied for _, applied in full_pushes]
    finally:
        node.stop()
        upstream.stop()
        await server.stop(None)
    return {
        "routes": routes,
        "rate": rate,
        "seconds": seconds,
        "steady": {**steady, **_lag_figures(steady_lag)},
        "changing": {**during, **_lag_figures(changing_lag)},
        "changes": changes,
        "push_to_ack_idle_median_ms": statistics.median(idle) * 1000,
        "push_to_ack_idle_max_ms": max(idle) * 1000,
        "push_to_ack_loaded_median_ms": statistics.median(loaded) * 1000,
        "push_to_ack_loaded_max_ms": max(loaded) * 1000,
        "full_apply_median_ms": statistics.median(full_applies) * 1000,
        "full_push_to_ack_median_ms": statistics.median(full_walls) * 1000,
        "full_compiles": FULL_COMPILES,
        "full_loaded_apply_median_ms": statistics.median(loaded_applies) * 1000,
        "full_loaded_push_to_ack_median_ms": statistics.median(loaded_walls) * 1000,
        "full_loaded": {**during_full, **_lag_figures(full_lag)},
        "memory_changes": memory_changes,
        "worker_rss_after_first_mb": rss[0] / 2**20,
        "worker_rss_after_last_mb": rss[1] / 2**20,
        "worker_rss_after_twice_mb": rss[2] / 2**20,
        "cpu_changes": 2 * memory_changes,
        "cpu_per_change_supervisor_ms": per_change[0] * 1000,
        "cpu_per_change_worker_ms": per_change[1] * 1000,
        "cpu_idle_supervisor_ms_per_s": idle_rates[0] * 1000,
        "cpu_idle_worker_ms_per_s": idle_rates[1] * 1000,
    }


async def _pushed_under_load(
    pusher: Pusher,
    payloads: list[tuple[int, str, bytes]],
    port: int,
    rate: int,
    seconds: float,
    status: str,
) -> tuple[list[tuple[float, float]], dict[str, Any], dict[str, float]]:
    """`payloads` pushed one after the other, evenly spaced over `seconds` of the paced
    client at `rate`: each push's (push -> ACK, apply time), the client's figures, and
    the loop lag's buckets over the phase."""
    lag = await asyncio.to_thread(_lag_buckets, status)
    client = _start_paced(port, rate, seconds)
    spacing = seconds / (len(payloads) + 1)
    started = time.monotonic()
    pushes = []
    for change, release in enumerate(payloads, 1):
        await asyncio.sleep(max(0.0, started + change * spacing - time.monotonic()))
        pushes.append(await pusher.push(release))
    during = await asyncio.to_thread(_finish_paced, client)
    return pushes, during, _lag_diff(lag, await asyncio.to_thread(_lag_buckets, status))


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


def _lag_buckets(status: str) -> dict[str, float]:
    buckets: dict[str, float] = {}
    for line in _get(status + "/metrics").decode().splitlines():
        if line.startswith(LAG_BOUNDS_LABEL):
            labels, _, value = line.rpartition(" ")
            buckets[labels.split('le="')[1].split('"')[0]] = float(value)
    return buckets


def _lag_diff(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {le: after[le] - before.get(le, 0.0) for le in after}


def _lag_figures(buckets: dict[str, float]) -> dict[str, float]:
    """The highest lag bucket reached, and how many probes were over 10 ms late."""
    over = buckets.get("+Inf", 0.0) - buckets.get("0.01", 0.0)
    return {"loop_lag_max_le_ms": _max_bucket_ms(buckets), "loop_lags_over_10ms": over}


def _max_bucket_ms(cumulative: dict[str, float]) -> float:
    """The upper bound of the highest bucket any lag fell in, in milliseconds."""
    total = cumulative.get("+Inf", 0.0)
    bounds = sorted((float(le), count) for le, count in cumulative.items())
    for bound, count in bounds:
        if count >= total:
            return bound * 1000
    return float("inf")


def _children(supervisor: int) -> list[int]:
    children = Path(f"/proc/{supervisor}/task/{supervisor}/children").read_text()
    return [int(pid) for pid in children.split()]


class _NodeCpu:
    """CPU time of a node's supervisor and of its workers (summed), from /proc."""

    def __init__(self, supervisor: int) -> None:
        self.supervisor = supervisor
        self.workers = _children(supervisor)
        self._started = 0.0
        self._before: tuple[dict[int, float], dict[int, float]] = ({}, {})

    def _read(self) -> tuple[dict[int, float], dict[int, float]]:
        return cpu_times([self.supervisor]), cpu_times(self.workers)

    def start(self) -> None:
        self._started = time.monotonic()
        self._before = self._read()

    def spent(self) -> tuple[float, float, float]:
        """CPU seconds of the supervisor and of the workers since `start`, and the
        seconds elapsed."""
        after = self._read()
        elapsed = time.monotonic() - self._started
        supervisor = cpu_seconds_between(self._before[0], after[0])
        return supervisor, cpu_seconds_between(self._before[1], after[1]), elapsed

    async def rates(self, seconds: float) -> tuple[float, float]:
        """CPU seconds per second of the supervisor and of the workers, idle."""
        self.start()
        await asyncio.sleep(seconds)
        supervisor, workers, elapsed = self.spent()
        return supervisor / elapsed, workers / elapsed

    def per_change(self, changes: int, idle: tuple[float, float]) -> tuple[float, float]:
        """CPU seconds per change since `start`, less the idle rates over the time."""
        supervisor, workers, elapsed = self.spent()
        return (
            (supervisor - idle[0] * elapsed) / changes,
            (workers - idle[1] * elapsed) / changes,
        )


def _worker_rss(supervisor: int) -> int:
    total = 0
    for pid in _children(supervisor):
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
