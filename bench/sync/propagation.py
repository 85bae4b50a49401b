"""Commit -> ACK on 100 nodes: how long one admin change takes to reach every node.

A real `fleetgate control-plane` (SQLite in a temporary directory) and 100 simulated
nodes in this process. Each change is one PATCH of one service through the admin API;
its clock starts when the request is sent (so it includes the commit, the release
debounce, the push and the node's checks) and stops at each node's ACK. The next
change waits until every node has ACKed, so each change is one release.
DESIGN.md's target: 250 ms at p99.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.ports import free_port
from bench.probe import wait_until_ok
from bench.process import BenchProcess

from .figures import percentile
from .nodes import SimulatedNode, converged, stop

TARGET_P99_S = 0.25
CONVERGE_TIMEOUT = 30.0


def run_propagation(nodes: int = 100, changes: int = 30) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="fleetgate-bench-sync-") as tmp:
        return asyncio.run(_measure(Path(tmp), nodes, changes))


async def _measure(tmp: Path, node_count: int, changes: int) -> dict[str, Any]:
    admin_port, sync_port = free_port(), free_port()
    admin_token, cluster_token = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    control_plane = BenchProcess(
        "control-plane",
        [
            sys.executable,
            "-m",
            "control_plane.cli",
            "control-plane",
            "--db",
            f"sqlite:///{tmp / 'store.db'}",
            "--admin-listen",
            f"127.0.0.1:{admin_port}",
            "--sync-listen",
            f"127.0.0.1:{sync_port}",
        ],
        tmp / "control-plane.log",
        env={
            **os.environ,
            "FLEETGATE_ADMIN_TOKEN": admin_token,
            "FLEETGATE_CLUSTER_TOKEN": cluster_token,
        },
    )
    tasks: list[asyncio.Task[None]] = []
    try:
        await asyncio.to_thread(
            wait_until_ok, admin_port, "/health", 60.0, alive=control_plane.check_alive
        )
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{admin_port}",
            headers={"Authorization": f"Bearer {admin_token}"},
            timeout=10.0,
        ) as admin:
            await seed(admin)
            fleet = [
                SimulatedNode(f"sim-{i:03d}", f"127.0.0.1:{sync_port}", cluster_token)
                for i in range(node_count)
            ]
            tasks = [asyncio.create_task(node.run()) for node in fleet]
            await converged(fleet, 0, CONVERGE_TIMEOUT)
            samples: list[float] = []
            for change in range(changes):
                samples += await timed_change(admin, fleet, change, CONVERGE_TIMEOUT)
    finally:
        await stop(tasks)
        control_plane.stop()
    p99 = percentile(samples, 0.99)
    return {
        "nodes": node_count,
        "changes": changes,
        "p50_ms": percentile(samples, 0.50) * 1000,
        "p99_ms": p99 * 1000,
        "max_ms": max(samples) * 1000,
        "target_p99_ms": TARGET_P99_S * 1000,
        "meets_target": p99 <= TARGET_P99_S,
    }


async def timed_change(
    admin: httpx.AsyncClient, fleet: list[SimulatedNode], change: int, timeout: float
) -> list[float]:
    """Change number `change` made through the admin API (the `bench` service's target
    weight), and the seconds from the admin call until each node ACKed it."""
    before = min(node.latest for node in fleet)
    started = time.monotonic()
    answer = await admin.patch(
        "/api/v1/services/bench",
        json={"targets": [{"address": "127.0.0.1:9", "weight": change % 50 + 2}]},
    )
    answer.raise_for_status()
    await converged(fleet, before, timeout)
    return [min(t for v, t in node.acked.items() if v > before) - started for node in fleet]


async def seed(admin: httpx.AsyncClient) -> None:
    """The control plane's config: service and route `bench`, the service's target changed
    by each change."""
    service = {"name": "bench", "targets": [{"address": "127.0.0.1:9", "weight": 1}]}
    (await admin.post("/api/v1/services", json=service)).raise_for_status()
    route = {"name": "bench", "paths": ["/bench/**"], "service": "bench"}
    (await admin.post("/api/v1/routes", json=route)).raise_for_status()
