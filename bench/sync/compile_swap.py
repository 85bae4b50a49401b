"""Compile and swap a 10,000-route snapshot on a real node, pushed over the real stream.

This process runs the control plane's sync side (snapshot cache and ConfigSync
service, on loopback) and pushes snapshots of 10,000 routes to one real `fleetgate
data-plane --workers 1`. The node reports in its ACK how long compile and swap took
(its `apply_snapshot`); the push -> ACK wall time, which adds parsing the snapshot and
writing the node's disk cache, is reported beside it. DESIGN.md's target: 1 s.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import grpc
from fleetgate_pb import config_pb2, sync_pb2
from prometheus_client import CollectorRegistry

from bench.ports import free_port
from bench.process import BenchProcess
from control_plane.sync.cache import CachedRelease, SnapshotCache
from control_plane.sync.metrics import SyncMetrics
from control_plane.sync.service import ConfigSyncService
from control_plane.sync.transport import sync_server
from data_plane.config.model import GatewayConfig
from data_plane.config.snapshot import build_snapshot
from data_plane.sync.contract import SnapshotRef

TARGET_S = 1.0
ACK_TIMEOUT = 60.0
SERVICES = 100


def route_paths(r: int, api: str) -> list[str]:
    """Route `r`'s paths: six in ten an `api` prefix, three an exact path, one a regex."""
    kind = r % 10
    if kind < 6:
        return [f"{api}/team-{r % 97}/svc-{r}/**"]
    if kind < 9:
        return [f"/static/{r}/index.html"]
    return [f"~^/legacy/{r}/[0-9]+$"]


def big_snapshot(routes: int, version: int) -> config_pb2.Snapshot:
    """`routes` routes over 100 services: prefixes, exact paths, methods and a few regexes."""
    services = [
        {"name": f"svc-{s}", "targets": [{"address": f"127.0.0.1:{20000 + s}"}]}
        for s in range(SERVICES)
    ]
    specs = []
    for r in range(routes):
        route: dict[str, Any] = {
            "name": f"route-{r}",
            "paths": route_paths(r, f"/api/v{version}"),
            "service": f"svc-{r % SERVICES}",
        }
        if r % 10 in (1, 7):
            route["methods"] = ["GET", "POST"]
        specs.append(route)
    config = GatewayConfig.model_validate({"services": services, "routes": specs})
    return build_snapshot(config, version=version, author="bench")


class AckLog:
    """The service's Inventory for this bench: remembers each ACK's apply time."""

    def __init__(self) -> None:
        self.applied: dict[int, float] = {}
        self.acked_at: dict[int, float] = {}
        self.errors: list[str] = []
        self.changed = asyncio.Event()

    async def connected(self, hello: sync_pb2.Hello, peer: str) -> set[SnapshotRef]:
        return set()

    def acked(self, node_id: str, ref: SnapshotRef, apply_seconds: float) -> None:
        self.applied[ref.version] = apply_seconds
        self.acked_at[ref.version] = time.monotonic()
        self._wake()

    def nacked(self, node_id: str, ref: SnapshotRef, error: str) -> None:
        self.errors.append(f"v{ref.version}: {error}")
        self._wake()

    def reported(self, node_id: str, status: sync_pb2.NodeStatus) -> None:
        pass

    # No rollouts here, but the service tells the inventory of candidates after every
    # ACK: a missing method would end the stream each time (and the node reconnect).
    def candidate_acked(self, node_id: str, ref: SnapshotRef | None) -> None:
        pass

    def candidate_nacked(self, node_id: str, ref: SnapshotRef, error: str) -> None:
        pass

    def disconnected(self, node_id: str) -> None:
        pass

    def _wake(self) -> None:
        self.changed.set()
        self.changed = asyncio.Event()

    async def wait_for(self, version: int) -> None:
        while version not in self.applied:
            if self.errors:
                raise RuntimeError(f"the node rejected the snapshot: {self.errors[-1]}")
            await self.changed.wait()


async def serve_sync(cache: SnapshotCache, acks: AckLog, token: str) -> tuple[grpc.aio.Server, int]:
    """The control plane's sync side on loopback (the real ConfigSync service pushing what
    `cache` holds, telling `acks`), started; with its port."""
    service = ConfigSyncService(cache, acks, SyncMetrics(CollectorRegistry()), cluster_token=token)
    server, port = sync_server(service, "127.0.0.1:0", None)
    await server.start()
    return server, port


def start_node(
    tmp: Path, sync_port: int, token: str, port: int, status_port: int, **env: str
) -> BenchProcess:
    """One `fleetgate data-plane --workers 1` listening on `port` (its status on
    `status_port`), taking its config from the sync side on `sync_port`; `env` added to
    this process's environment."""
    return BenchProcess(
        "node",
        [
            sys.executable,
            "-m",
            "control_plane.cli",
            "data-plane",
            "--control-plane",
            f"127.0.0.1:{sync_port}",
            "--listen",
            f"127.0.0.1:{port}",
            "--status-listen",
            f"127.0.0.1:{status_port}",
            "--workers",
            "1",
            "--cache-dir",
            str(tmp / "cache"),
            "--node-id",
            "bench-node",
        ],
        tmp / "node.log",
        env={**os.environ, "FLEETGATE_CLUSTER_TOKEN": token, **env},
    )


def run_compile_swap(routes: int = 10_000, runs: int = 3) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="fleetgate-bench-swap-") as tmp:
        return asyncio.run(_measure(Path(tmp), routes, runs))


async def _measure(tmp: Path, routes: int, runs: int) -> dict[str, Any]:
    token = secrets.token_urlsafe(24)
    cache = SnapshotCache()
    acks = AckLog()
    server, port = await serve_sync(cache, acks, token)
    # Built before the node starts, so building competes with nothing measured.
    snapshots = [big_snapshot(routes, version) for version in range(1, runs + 2)]
    node = start_node(tmp, port, token, free_port(), free_port())
    applies: list[float] = []
    walls: list[float] = []
    try:
        for index, snapshot in enumerate(snapshots):
            payload = snapshot.SerializeToString()
            started = time.monotonic()
            cache.put(CachedRelease(snapshot.version, snapshot.hash, payload, time.time()))
            async with asyncio.timeout(ACK_TIMEOUT):
                await acks.wait_for(snapshot.version)
            if index == 0:
                continue  # the first apply also starts the node's worker: not a swap
            applies.append(acks.applied[snapshot.version])
            walls.append(acks.acked_at[snapshot.version] - started)
    except TimeoutError:
        raise RuntimeError(f"the node did not ACK in time; its log:\n{node.log_tail()}") from None
    finally:
        node.stop()
        await server.stop(None)
    worst = max(applies)
    return {
        "routes": routes,
        "snapshot_bytes": len(snapshots[-1].SerializeToString()),
        "runs": len(applies),
        "apply_median_s": statistics.median(applies),
        "apply_max_s": worst,
        "push_to_ack_median_s": statistics.median(walls),
        "target_s": TARGET_S,
        "meets_target": worst <= TARGET_S,
    }
