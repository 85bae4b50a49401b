"""Simulated data-plane nodes: the sync side of a node, many to one process.

Each keeps a real ConfigSync stream open (grpc.aio, a TCP connection of its own),
parses every pushed snapshot, runs the same consistency checks a node runs before
compiling (`check_snapshot`), and ACKs or NACKs. What a real node adds on top (route
table compile, swap across workers) is measured on its own by the compile-and-swap
scenario. Nodes of one process share the verdict on a snapshot they all receive (it is
the same bytes), so thousands of them stay light: the control plane is what is measured.

With `reconnect`, a node whose stream ends comes back as a real one does: after a
jittered, capped exponential backoff (the node's own `Backoff`), saying in its hello
which snapshot it holds. With `status_every`, it reports its status as often as a real
node does (every 10 s), so an idle fleet costs the control plane what a real one does.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from typing import Any

import grpc
from fleetgate_pb import config_pb2, sync_pb2
from fleetgate_pb import sync_pb2_grpc as pb_grpc

from data_plane.config.validate import check_snapshot
from data_plane.sync.backoff import Backoff
from data_plane.sync.contract import ACCEPTED_HEADER, OUTLOOK_HEADER, SnapshotRef

# Each node on a connection of its own, as real nodes are, not multiplexed on one.
CHANNEL_OPTIONS = (("grpc.use_local_subchannel_pool", 1),)
# hash -> the first error check_snapshot found ("" for none), shared by a process's nodes
_verdicts: dict[str, str] = {}


def verdict(snapshot: config_pb2.Snapshot) -> str:
    found = _verdicts.get(snapshot.hash)
    if found is None:
        errors = check_snapshot(snapshot)
        found = _verdicts[snapshot.hash] = str(errors[0]) if errors else ""
    return found


class SimulatedNode:
    def __init__(
        self,
        node_id: str,
        address: str,
        token: str,
        *,
        reconnect: bool = False,
        status_every: float | None = None,
    ) -> None:
        self.node_id = node_id
        self.address = address
        self.token = token
        self.reconnect = reconnect
        self.status_every = status_every
        self.acked: dict[int, float] = {}  # version -> time.monotonic() of its ACK
        self.latest = 0
        self.holds: SnapshotRef | None = None
        self.ended = False
        self.connected = False
        self.streams = 0  # streams the control plane accepted
        self.synced_at: float | None = None  # when it last held the latest, by ACK or hello
        self.changed = asyncio.Event()
        self._backoff = Backoff()

    async def run(self) -> None:
        try:
            while True:
                try:
                    await self._stream()
                except Exception:
                    # As a real node, keep trying whatever ended the stream.
                    if not self.reconnect:
                        raise
                finally:
                    self.connected = False
                if not self.reconnect:
                    return
                await asyncio.sleep(self._backoff.next_delay())
        finally:
            self.ended = True
            self._wake()

    async def _stream(self) -> None:
        async with grpc.aio.insecure_channel(self.address, options=CHANNEL_OPTIONS) as channel:
            call = pb_grpc.ConfigSyncStub(channel).Stream(
                metadata=(("authorization", f"Bearer {self.token}"),)
            )
            hello = sync_pb2.Hello(
                node_id=self.node_id,
                labels={"bench": "fleet"},
                software_version="bench",
                schema_version=1,
            )
            if self.holds is not None:
                hello.active.CopyFrom(
                    sync_pb2.SnapshotRef(version=self.holds.version, hash=self.holds.hash)
                )
            await call.write(sync_pb2.NodeMessage(hello=hello))
            writing = asyncio.Lock()  # the answers and the status reports share the stream
            answers = dict(await call.initial_metadata() or ())
            if ACCEPTED_HEADER in answers:
                self.connected = True
                self.streams += 1
                self._backoff.reset()
                if answers.get(OUTLOOK_HEADER) == "current":
                    self.synced_at = time.monotonic()
                self._wake()
            reporter = asyncio.create_task(self._report(call, writing))
            try:
                while (message := await call.read()) is not grpc.aio.EOF:
                    assert isinstance(message, sync_pb2.ControlMessage)
                    if message.WhichOneof("msg") == "push":
                        answer = self._answer(message.push)
                        async with writing:
                            await call.write(answer)
            finally:
                reporter.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await reporter

    async def _report(self, call: Any, writing: asyncio.Lock) -> None:
        if self.status_every is None:
            return
        await asyncio.sleep(random.uniform(0, self.status_every))  # not all in step
        while True:
            slot = sync_pb2.SlotStatus(slot=sync_pb2.ACTIVE)
            if self.holds is not None:
                slot.snapshot.CopyFrom(
                    sync_pb2.SnapshotRef(version=self.holds.version, hash=self.holds.hash)
                )
            status = sync_pb2.NodeStatus(slots=[slot])
            async with writing:
                await call.write(sync_pb2.NodeMessage(status=status))
            await asyncio.sleep(self.status_every)

    def _answer(self, push: sync_pb2.SnapshotPush) -> sync_pb2.NodeMessage:
        snapshot = config_pb2.Snapshot.FromString(push.snapshot)
        ref = sync_pb2.SnapshotRef(version=snapshot.version, hash=snapshot.hash)
        error = verdict(snapshot)
        if error:
            return sync_pb2.NodeMessage(
                nack=sync_pb2.Nack(nonce=push.nonce, snapshot=ref, error=error)
            )
        now = time.monotonic()
        self.acked[snapshot.version] = now
        self.synced_at = now
        self.holds = SnapshotRef(snapshot.version, snapshot.hash)
        self.latest = max(self.latest, snapshot.version)
        self._wake()
        return sync_pb2.NodeMessage(ack=sync_pb2.Ack(nonce=push.nonce, snapshot=ref))

    def _wake(self) -> None:
        self.changed.set()
        self.changed = asyncio.Event()

    async def wait_beyond(self, version: int) -> None:
        while self.latest <= version:
            if self.ended:
                raise RuntimeError(f"{self.node_id}: its stream ended")
            await self.changed.wait()

    async def wait_synced_after(self, moment: float, streams: int) -> None:
        """Until a stream newer than the first `streams` is accepted and holds the latest."""
        while not (self.streams > streams and (self.synced_at or 0.0) >= moment):
            if self.ended:
                raise RuntimeError(f"{self.node_id}: gave up reconnecting")
            await self.changed.wait()


async def converged(fleet: list[SimulatedNode], beyond: int, timeout: float) -> None:
    """Every node ACKed a version above `beyond`; a node whose stream ended fails the run."""
    async with asyncio.timeout(timeout):
        await asyncio.gather(*(node.wait_beyond(beyond) for node in fleet))


async def stop(tasks: list[asyncio.Task[None]]) -> None:
    """Cancel the tasks running simulated nodes, and wait for each to end."""
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
