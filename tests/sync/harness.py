"""Pieces the config-sync tests share: releases, a running ConfigSync server, a node stream."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import grpc
from fleetgate_pb import config_pb2, sync_pb2
from fleetgate_pb import sync_pb2_grpc as pb_grpc
from prometheus_client import CollectorRegistry

from control_plane.store.db import Database
from control_plane.sync import transport
from control_plane.sync.cache import CachedRelease, SnapshotCache
from control_plane.sync.metrics import SyncMetrics
from control_plane.sync.service import ConfigSyncService
from control_plane.sync.watcher import ReleaseWatcher
from data_plane.config.model import GatewayConfig
from data_plane.config.snapshot import build_snapshot
from data_plane.sync.contract import SnapshotRef

TOKEN = "test-cluster-token-0123456789"
T = TypeVar("T")


def run(coro: Awaitable[T], timeout: float = 20.0) -> T:
    """Run one async test scenario on a fresh loop, bounded in time."""

    async def bounded() -> T:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())


def snapshot(version: int, *, route_path: str = "/demo/**", **route: Any) -> config_pb2.Snapshot:
    config = GatewayConfig.model_validate(
        {
            "services": [{"name": "demo", "targets": [{"address": "127.0.0.1:9"}]}],
            "routes": [{"name": "demo", "paths": [route_path], "service": "demo", **route}],
        }
    )
    return build_snapshot(config, version=version, author="test")


def release(version: int, *, committed_at: float = 0.0, **route: Any) -> CachedRelease:
    """A real release: a built, hashed Snapshot whose content differs by version."""
    built = snapshot(version, route_path=f"/v{version}/**", **route)
    return CachedRelease(version, built.hash, built.SerializeToString(), committed_at)


@dataclass
class RecordingInventory:
    """An in-memory Inventory: what the service reported, in order."""

    rejected: dict[str, set[SnapshotRef]] = field(default_factory=dict)
    events: list[tuple[str, ...]] = field(default_factory=list)
    statuses: list[sync_pb2.NodeStatus] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def connected(self, hello: sync_pb2.Hello, peer: str) -> set[SnapshotRef]:
        self._record("connected", hello.node_id)
        return set(self.rejected.get(hello.node_id, set()))

    def acked(self, node_id: str, ref: SnapshotRef, apply_seconds: float) -> None:
        self._record("acked", node_id, str(ref.version))

    def nacked(self, node_id: str, ref: SnapshotRef, error: str) -> None:
        self.rejected.setdefault(node_id, set()).add(ref)
        self._record("nacked", node_id, str(ref.version), error)

    def candidate_acked(self, node_id: str, ref: SnapshotRef | None) -> None:
        self._record("candidate_acked", node_id, "none" if ref is None else str(ref.version))

    def candidate_nacked(self, node_id: str, ref: SnapshotRef, error: str) -> None:
        self.rejected.setdefault(node_id, set()).add(ref)
        self._record("candidate_nacked", node_id, str(ref.version), error)

    def reported(self, node_id: str, status: sync_pb2.NodeStatus) -> None:
        self.statuses.append(status)
        self._record("reported", node_id)

    def disconnected(self, node_id: str) -> None:
        self._record("disconnected", node_id)

    def _record(self, *event: str) -> None:
        self.events.append(event)
        self.changed.set()
        self.changed = asyncio.Event()

    async def wait_for(self, *event: str) -> None:
        while event not in self.events:
            await self.changed.wait()


@dataclass
class SyncServer:
    address: str
    cache: SnapshotCache
    inventory: RecordingInventory
    metrics: SyncMetrics
    registry: CollectorRegistry
    service: ConfigSyncService


@contextlib.asynccontextmanager
async def sync_server(
    *, clock: Callable[[], float] | None = None, port: int = 0, cluster_token: str = TOKEN
) -> AsyncIterator[SyncServer]:
    """A real grpc.aio ConfigSync server on a loopback port."""
    cache = SnapshotCache()
    inventory = RecordingInventory()
    registry = CollectorRegistry()
    metrics = SyncMetrics(registry)
    service = ConfigSyncService(
        cache, inventory, metrics, cluster_token=cluster_token, clock=clock or time.time
    )
    server, port = transport.sync_server(service, f"127.0.0.1:{port}", None)
    await server.start()
    try:
        yield SyncServer(f"127.0.0.1:{port}", cache, inventory, metrics, registry, service)
    finally:
        await server.stop(grace=None)


def hello(node_id: str = "node-1", holds: CachedRelease | None = None) -> sync_pb2.NodeMessage:
    message = sync_pb2.Hello(node_id=node_id, software_version="test", schema_version=1)
    if holds is not None:
        message.active.CopyFrom(sync_pb2.SnapshotRef(version=holds.version, hash=holds.hash))
    return sync_pb2.NodeMessage(hello=message)


class NodeStream:
    """A bare node end of the stream, driven message by message by a test."""

    def __init__(self, address: str, token: str | None = TOKEN) -> None:
        self.channel = grpc.aio.insecure_channel(address)
        metadata = (("authorization", f"Bearer {token}"),) if token is not None else ()
        self.call = pb_grpc.ConfigSyncStub(self.channel).Stream(metadata=metadata)

    async def send(self, message: sync_pb2.NodeMessage) -> None:
        await self.call.write(message)

    async def receive(self) -> sync_pb2.ControlMessage:
        message = await self.call.read()
        assert message is not grpc.aio.EOF, "the control plane ended the stream"
        assert isinstance(message, sync_pb2.ControlMessage)
        return message

    async def ack(self, push: sync_pb2.SnapshotPush, apply_seconds: float = 0.01) -> None:
        sent = config_pb2.Snapshot.FromString(push.snapshot)
        ref = sync_pb2.SnapshotRef(version=sent.version, hash=sent.hash)
        await self.send(
            sync_pb2.NodeMessage(
                ack=sync_pb2.Ack(nonce=push.nonce, snapshot=ref, apply_seconds=apply_seconds)
            )
        )

    async def nack(self, push: sync_pb2.SnapshotPush, error: str) -> None:
        sent = config_pb2.Snapshot.FromString(push.snapshot)
        ref = sync_pb2.SnapshotRef(version=sent.version, hash=sent.hash)
        await self.send(
            sync_pb2.NodeMessage(nack=sync_pb2.Nack(nonce=push.nonce, snapshot=ref, error=error))
        )

    async def close(self) -> None:
        self.call.cancel()
        await self.channel.close()


def pushed_version(message: sync_pb2.ControlMessage) -> int:
    assert message.WhichOneof("msg") == "push"
    return config_pb2.Snapshot.FromString(message.push.snapshot).version


class CheckingNode:
    """A node that applies the way the real one decides: checks, then capabilities."""

    def __init__(self, capabilities: frozenset[str] = frozenset()) -> None:
        self.capabilities = capabilities
        self.applied: list[int] = []
        self.payloads: list[bytes] = []  # the bytes each applied snapshot came as
        self.changed = asyncio.Event()

    async def apply_snapshot(self, snapshot: config_pb2.Snapshot, payload: bytes = b"") -> float:
        from data_plane.config.validate import raise_if_invalid

        raise_if_invalid(snapshot)
        missing = sorted(set(snapshot.required_capabilities) - self.capabilities)
        if missing:
            raise ValueError(f"this node lacks {', '.join(missing)}")
        self.applied.append(snapshot.version)
        self.payloads.append(payload)
        self.changed.set()
        self.changed = asyncio.Event()
        return 0.002

    async def wait_applied(self, version: int) -> None:
        while version not in self.applied:
            await self.changed.wait()


@contextlib.asynccontextmanager
async def notify_only_watcher(db: Database, cache: SnapshotCache) -> AsyncIterator[None]:
    """A release watcher on `db` that polls once an hour, so only a NOTIFY brings news
    in time; entered once it listens, cancelled on leaving."""
    watcher = ReleaseWatcher(db, cache, poll_interval=3600)
    task = asyncio.create_task(watcher.run())
    try:
        while not watcher.listening:
            await asyncio.sleep(0.01)
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
