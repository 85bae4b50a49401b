"""Changes that arrive while a node compiles coalesce: it compiles the newest one next.

On the sync stream as with SIGHUP (tests/data_plane/test_config_swap.py): a node busy
applying one release while three more are made is sent none of them until it answers,
then only the newest, so it never works through a queue of stale versions; and it ends
the stream nowhere on the way (the stream carries every change of a busy node).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator
from pathlib import Path

from fleetgate_pb import config_pb2, sync_pb2

from data_plane.sync.backoff import Backoff
from data_plane.sync.client import SyncClient
from data_plane.sync.settings import SyncSettings

from .harness import TOKEN, release, run, sync_server


class SlowNode:
    """A node whose applies each wait for the test to let them finish."""

    def __init__(self) -> None:
        self.started: list[int] = []  # versions whose apply began, in order
        self.applied: list[int] = []
        self.busy = asyncio.Event()
        self.finish = asyncio.Event()

    async def apply_snapshot(self, snapshot: config_pb2.Snapshot, payload: bytes = b"") -> float:
        self.started.append(snapshot.version)
        self.busy.set()
        await self.finish.wait()
        self.finish.clear()
        self.busy.clear()
        self.applied.append(snapshot.version)
        return 0.5

    async def apply_candidate(
        self, snapshot: config_pb2.Snapshot, selector: sync_pb2.CandidateSelector
    ) -> float:
        raise AssertionError("no rollout here")

    async def promote_candidate(self) -> float:
        raise AssertionError("no rollout here")

    async def drop_candidate(self) -> None:
        pass


def client_for(node: SlowNode, address: str, cache_dir: Path) -> SyncClient:
    settings = SyncSettings(
        addresses=(address,),
        cluster_token=TOKEN,
        node_id="node-1",
        labels={},
        address="127.0.0.1:8080",
        cache_dir=str(cache_dir),
        status_interval=0.05,
        connect_timeout=2.0,
    )
    return SyncClient(
        node,
        settings,
        capabilities=(),
        status=sync_pb2.NodeStatus,
        backoff=Backoff(base=0.01, cap=0.05, rng=random.Random(0)),
    )


@contextlib.asynccontextmanager
async def running(client: SyncClient) -> AsyncIterator[None]:
    task = asyncio.create_task(client.run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def wait_until_busy(node: SlowNode, version: int) -> None:
    while not (node.busy.is_set() and node.started[-1:] == [version]):
        await asyncio.sleep(0.005)


def test_releases_made_while_a_node_applies_coalesce_into_the_newest(tmp_path: Path) -> None:
    async def scenario() -> tuple[list[int], list[int], list[tuple[str, ...]]]:
        async with sync_server() as server:
            node = SlowNode()
            server.cache.put(release(1))
            async with running(client_for(node, server.address, tmp_path)):
                await wait_until_busy(node, 1)
                node.finish.set()
                await server.inventory.wait_for("acked", "node-1", "1")
                server.cache.put(release(2))
                await wait_until_busy(node, 2)
                for version in (3, 4, 5):  # made while v2 is being applied
                    server.cache.put(release(version))
                # Were any of them sent, the node would read it (and apply it) next.
                node.finish.set()
                await wait_until_busy(node, 5)
                node.finish.set()
                await server.inventory.wait_for("acked", "node-1", "5")
            return node.started, node.applied, server.inventory.events

    started, applied, events = run(scenario())
    assert started == applied == [1, 2, 5]  # never 3 or 4
    acked = [event[2] for event in events if event[0] == "acked"]
    assert acked == ["1", "2", "5"]
    assert [event[0] for event in events].count("connected") == 1  # one stream throughout
