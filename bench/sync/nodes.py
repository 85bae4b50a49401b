"""Simulated data-plane nodes: the sync side of a node, many to one process.

Each keeps a real ConfigSync stream open (grpc.aio), parses every pushed snapshot,
runs the same consistency checks a node runs before compiling (`check_snapshot`), and
ACKs or NACKs. What a real node adds on top (route table compile, swap across
workers) is measured on its own by the compile-and-swap scenario.
"""

from __future__ import annotations

import asyncio
import time

import grpc
from fleetgate_pb import config_pb2, sync_pb2
from fleetgate_pb import sync_pb2_grpc as pb_grpc

from data_plane.config.validate import check_snapshot


class SimulatedNode:
    def __init__(self, node_id: str, address: str, token: str) -> None:
        self.node_id = node_id
        self.address = address
        self.token = token
        self.acked: dict[int, float] = {}  # version -> time.monotonic() of its ACK
        self.latest = 0
        self.ended = False
        self.changed = asyncio.Event()

    async def run(self) -> None:
        try:
            await self._stream()
        finally:
            self.ended = True
            self._wake()

    async def _stream(self) -> None:
        async with grpc.aio.insecure_channel(self.address) as channel:
            call = pb_grpc.ConfigSyncStub(channel).Stream(
                metadata=(("authorization", f"Bearer {self.token}"),)
            )
            await call.write(
                sync_pb2.NodeMessage(
                    hello=sync_pb2.Hello(
                        node_id=self.node_id,
                        labels={"bench": "propagation"},
                        software_version="bench",
                        schema_version=1,
                    )
                )
            )
            while (message := await call.read()) is not grpc.aio.EOF:
                assert isinstance(message, sync_pb2.ControlMessage)
                if message.WhichOneof("msg") == "push":
                    await call.write(self._answer(message.push))

    def _answer(self, push: sync_pb2.SnapshotPush) -> sync_pb2.NodeMessage:
        snapshot = config_pb2.Snapshot.FromString(push.snapshot)
        ref = sync_pb2.SnapshotRef(version=snapshot.version, hash=snapshot.hash)
        errors = check_snapshot(snapshot)
        if errors:
            return sync_pb2.NodeMessage(
                nack=sync_pb2.Nack(nonce=push.nonce, snapshot=ref, error=str(errors[0]))
            )
        self.acked[snapshot.version] = time.monotonic()
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
