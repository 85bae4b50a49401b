"""The node's stream client against a real ConfigSync server on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from fleetgate_pb import config_pb2, sync_pb2
from google.protobuf.message import DecodeError

from control_plane.sync.cache import CachedRelease
from data_plane.sync.backoff import Backoff
from data_plane.sync.cache import SnapshotDiskCache
from data_plane.sync.client import SyncClient
from data_plane.sync.settings import SyncSettings

from ..conftest import free_port
from .harness import TOKEN, CheckingNode, release, run, snapshot, sync_server


def settings(
    addresses: list[str], cache_dir: Path, token: str = TOKEN, status_interval: float = 0.05
) -> SyncSettings:
    return SyncSettings(
        addresses=tuple(addresses),
        cluster_token=token,
        node_id="node-1",
        labels={"group": "blue"},
        address="127.0.0.1:8080",
        cache_dir=str(cache_dir),
        status_interval=status_interval,
        connect_timeout=2.0,
    )


def status() -> sync_pb2.NodeStatus:
    return sync_pb2.NodeStatus(slots=[sync_pb2.SlotStatus(request_rate=3.0)])


@contextlib.asynccontextmanager
async def running(client: SyncClient) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(client.run())
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def client_for(
    node: CheckingNode,
    addresses: list[str],
    cache_dir: Path,
    token: str = TOKEN,
    status_interval: float = 0.05,
) -> SyncClient:
    return SyncClient(
        node,
        settings(addresses, cache_dir, token, status_interval),
        capabilities=node.capabilities,
        status=status,
        backoff=Backoff(base=0.01, cap=0.05, rng=random.Random(0)),
    )


def test_a_pushed_release_is_applied_acked_and_cached(tmp_path: Path) -> None:
    async def scenario() -> list[tuple[str, ...]]:
        async with sync_server() as server:
            server.cache.put(release(1))
            node = CheckingNode()
            async with running(client_for(node, [server.address], tmp_path)):
                await node.wait_applied(1)
                await server.inventory.wait_for("acked", "node-1", "1")
            return server.inventory.events

    assert ("acked", "node-1", "1") in run(scenario())
    assert SnapshotDiskCache(tmp_path).load().version == 1  # type: ignore[union-attr]


def test_the_node_is_handed_the_pushed_bytes_as_they_came(tmp_path: Path) -> None:
    async def scenario() -> list[bytes]:
        async with sync_server() as server:
            server.cache.put(release(1))
            node = CheckingNode()
            async with running(client_for(node, [server.address], tmp_path)):
                await node.wait_applied(1)
            return node.payloads

    assert run(scenario()) == [release(1).payload]


def test_a_changed_route_that_does_not_parse_is_nacked_as_a_whole_parse_would(
    tmp_path: Path,
) -> None:
    """The client parses only the routes a release changed; what does not parse is still
    refused, with the text parsing the whole snapshot gives."""
    good = release(2)
    at = good.payload.index(b"/v2/**") + 1
    damaged = good.payload[:at] + b"\xff" + good.payload[at + 1 :]  # not UTF-8
    with pytest.raises(DecodeError) as whole:
        config_pb2.Snapshot.FromString(damaged)

    async def scenario() -> list[int]:
        async with sync_server() as server:
            server.cache.put(release(1))
            node = CheckingNode()
            async with running(client_for(node, [server.address], tmp_path)):
                await node.wait_applied(1)
                server.cache.put(CachedRelease(2, good.hash, damaged, 0.0))
                error = f"snapshot does not parse: {whole.value}"
                await server.inventory.wait_for("nacked", "node-1", "2", error)
                server.cache.put(release(3))
                await node.wait_applied(3)
            return node.applied

    assert run(scenario()) == [1, 3]


def test_a_release_the_node_cannot_apply_is_nacked_with_the_reason(tmp_path: Path) -> None:
    async def scenario() -> list[int]:
        async with sync_server() as server:
            server.cache.put(release(1))
            node = CheckingNode()
            async with running(client_for(node, [server.address], tmp_path)):
                await node.wait_applied(1)
                server.cache.put(release(2, cache={"ttl": 5}))
                await server.inventory.wait_for(
                    "nacked", "node-1", "2", "this node lacks policy.cache"
                )
            return node.applied

    assert run(scenario()) == [1]
    assert SnapshotDiskCache(tmp_path).load().version == 1  # type: ignore[union-attr]


def test_the_node_reconnects_and_converges_on_the_latest_release(tmp_path: Path) -> None:
    port = free_port()

    async def scenario() -> list[int]:
        node = CheckingNode()
        client = client_for(node, [f"127.0.0.1:{port}"], tmp_path)
        async with running(client):
            async with sync_server(port=port) as server:
                server.cache.put(release(1))
                await node.wait_applied(1)
            async with sync_server(port=port) as server:
                server.cache.put(release(3))
                await node.wait_applied(3)
        return node.applied

    assert run(scenario()) == [1, 3]


def test_the_node_tries_the_next_control_plane_address(tmp_path: Path) -> None:
    async def scenario() -> str | None:
        async with sync_server() as server:
            server.cache.put(release(1))
            node = CheckingNode()
            client = client_for(node, [f"127.0.0.1:{free_port()}", server.address], tmp_path)
            async with running(client):
                await node.wait_applied(1)
                return client.connected_to

    assert run(scenario()) is not None


def test_the_node_starts_from_its_cache_when_no_control_plane_answers(tmp_path: Path) -> None:
    SnapshotDiskCache(tmp_path).write(snapshot(5).SerializeToString())

    async def scenario() -> list[int]:
        node = CheckingNode()
        async with running(client_for(node, [f"127.0.0.1:{free_port()}"], tmp_path)):
            await node.wait_applied(5)
        return node.applied

    assert run(scenario()) == [5]


def test_a_node_serving_its_cache_is_not_pushed_the_same_release_again(tmp_path: Path) -> None:
    cached = release(5)
    SnapshotDiskCache(tmp_path).write(cached.payload)
    port = free_port()

    async def scenario() -> list[int]:
        node = CheckingNode()
        async with running(client_for(node, [f"127.0.0.1:{port}"], tmp_path)):
            await node.wait_applied(5)
            async with sync_server(port=port) as server:
                server.cache.put(cached)
                await server.inventory.wait_for("connected", "node-1")
                server.cache.put(release(6))
                await node.wait_applied(6)
        return node.applied

    assert run(scenario()) == [5, 6]


def test_a_refused_token_gets_no_config_and_the_node_falls_back_to_its_cache(
    tmp_path: Path,
) -> None:
    SnapshotDiskCache(tmp_path).write(snapshot(2).SerializeToString())

    async def scenario() -> tuple[list[int], list[tuple[str, ...]]]:
        async with sync_server() as server:
            server.cache.put(release(9))
            node = CheckingNode()
            async with running(client_for(node, [server.address], tmp_path, token="wrong")):
                await node.wait_applied(2)
            return node.applied, server.inventory.events

    applied, events = run(scenario())
    assert applied == [2]
    assert events == []


def test_status_reports_are_sent_periodically(tmp_path: Path) -> None:
    async def scenario() -> int:
        async with sync_server() as server:
            node = CheckingNode()
            async with running(client_for(node, [server.address], tmp_path)):
                for _ in range(3):
                    await server.inventory.wait_for("reported", "node-1")
                    server.inventory.events.clear()
            return len(server.inventory.statuses)

    assert run(scenario()) >= 3


def test_a_status_report_follows_each_apply(tmp_path: Path) -> None:
    async def scenario() -> list[str]:
        async with sync_server() as server:
            node = CheckingNode()
            # No periodic report within the test: a report after the ACK follows the apply.
            client = client_for(node, [server.address], tmp_path, status_interval=3600)
            async with running(client):
                await server.inventory.wait_for("reported", "node-1")  # the one on connect
                server.cache.put(release(1))
                await server.inventory.wait_for("acked", "node-1", "1")
                acked_at = server.inventory.events.index(("acked", "node-1", "1"))
                while ("reported", "node-1") not in server.inventory.events[acked_at:]:
                    await server.inventory.changed.wait()
            return [event[0] for event in server.inventory.events]

    events = run(scenario())
    assert events.count("reported") == 2


def test_a_node_that_rejected_the_latest_release_restarts_from_its_cache(
    tmp_path: Path,
) -> None:
    SnapshotDiskCache(tmp_path).write(release(1).payload)

    async def scenario() -> list[tuple[str, ...]]:
        async with sync_server() as server:
            server.cache.put(release(2))
            server.inventory.rejected["node-1"] = {release(2).ref}
            node = CheckingNode()
            async with running(client_for(node, [server.address], tmp_path)):
                await node.wait_applied(1)
                await server.inventory.wait_for("reported", "node-1")
            assert node.applied == [1]
            return server.inventory.events

    events = run(scenario())
    assert not any(event[0] in ("acked", "nacked") for event in events)


def test_a_node_of_an_empty_store_does_not_start_from_its_cache(tmp_path: Path) -> None:
    SnapshotDiskCache(tmp_path).write(release(1).payload)

    async def scenario() -> list[int]:
        async with sync_server() as server:
            node = CheckingNode()
            async with running(client_for(node, [server.address], tmp_path)):
                await server.inventory.wait_for("reported", "node-1")
                server.cache.put(release(2))
                await node.wait_applied(2)
            return node.applied

    assert run(scenario()) == [2]


def test_failed_attempts_back_off_with_growing_capped_delays(tmp_path: Path) -> None:
    delays: list[float] = []

    class Enough(Exception):
        pass

    async def record(delay: float) -> None:
        delays.append(delay)
        if len(delays) == 8:
            raise Enough

    async def scenario() -> None:
        client = SyncClient(
            CheckingNode(),
            settings([f"127.0.0.1:{free_port()}"], tmp_path),
            capabilities=(),
            status=status,
            backoff=Backoff(rng=random.Random(0)),
            sleep=record,
        )
        with pytest.raises(Enough):
            await client.run()

    run(scenario())
    assert delays[0] <= 0.5
    assert all(later >= earlier / 2 for earlier, later in itertools.pairwise(delays))
    assert max(delays) <= 10.0
    assert delays[-1] >= 5.0


def test_a_candidate_is_reported_only_once_it_is_cached(tmp_path: Path) -> None:
    # The node serves a candidate as soon as it applied it; a status report sent before
    # its disk cache is written would have the control plane count it serving, and a
    # restart then would lose it. Reports name it once it is cached.
    pushed = snapshot(7)
    ref = sync_pb2.SnapshotRef(version=7, hash=pushed.hash)

    class Node(CheckingNode):
        serving = False

        async def apply_candidate(
            self, candidate: config_pb2.Snapshot, selector: sync_pb2.CandidateSelector
        ) -> float:
            self.serving = True
            return 0.01

    node = Node()

    def node_status() -> sync_pb2.NodeStatus:
        slots = [sync_pb2.SlotStatus(slot=sync_pb2.ACTIVE)]
        if node.serving:
            slots.append(sync_pb2.SlotStatus(slot=sync_pb2.CANDIDATE, snapshot=ref))
        return sync_pb2.NodeStatus(slots=slots)

    client = SyncClient(
        node,
        settings([], tmp_path, TOKEN, 10.0),
        capabilities=node.capabilities,
        status=node_status,
    )
    reported_while_caching: list[int] = []
    write = client._disk.write_candidate

    def write_candidate(push: bytes) -> None:
        reported_while_caching.append(len(client._status_message().status.slots))
        write(push)

    client._disk.write_candidate = write_candidate  # type: ignore[method-assign]

    class Sender:
        def __init__(self) -> None:
            self.sent: list[sync_pb2.NodeMessage] = []

        async def send(self, message: object) -> None:
            self.sent.append(message() if callable(message) else message)  # type: ignore[arg-type]

    sender = Sender()
    push = sync_pb2.SnapshotPush(
        nonce="n", slot=sync_pb2.CANDIDATE, snapshot=pushed.SerializeToString()
    )
    run(client._on_push(push, sender))  # type: ignore[arg-type]
    assert reported_while_caching == [1]  # the active slot alone
    assert SnapshotDiskCache(tmp_path).load_candidate() is not None
    acked, status_after = sender.sent
    assert acked.ack.snapshot.hash == pushed.hash
    assert [s.slot for s in status_after.status.slots] == [sync_pb2.ACTIVE, sync_pb2.CANDIDATE]
