"""Every number and string a node sends is bounded before it reaches SQL: a message out
of bounds ends that node's stream with INVALID_ARGUMENT, and never holds back what
other nodes said."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from fleetgate_pb import sync_pb2
from prometheus_client import CollectorRegistry

from control_plane.store.db import Database
from control_plane.store.nodes import NodeRow
from control_plane.sync import transport
from control_plane.sync.cache import SnapshotCache
from control_plane.sync.inventory import NodeInventory
from control_plane.sync.metrics import SyncMetrics
from control_plane.sync.service import ConfigSyncService

from .harness import TOKEN, NodeStream, hello, release, run, sync_server

U64 = 2**64 - 1
REF = sync_pb2.SnapshotRef(version=1, hash="a" * 64)


def status(**slot: Any) -> sync_pb2.NodeMessage:
    connections = slot.pop("open_connections", 0)
    return sync_pb2.NodeMessage(
        status=sync_pb2.NodeStatus(
            open_connections=connections, slots=[sync_pb2.SlotStatus(snapshot=REF, **slot)]
        )
    )


def hello_with(**fields: Any) -> sync_pb2.NodeMessage:
    message = hello()
    for name, value in fields.items():
        if name == "labels":
            message.hello.labels.update(value)
        elif name == "capabilities":
            message.hello.capabilities.extend(value)
        elif name == "active":
            message.hello.active.CopyFrom(value)
        else:
            setattr(message.hello, name, value)
    return message


async def refusal(*messages: sync_pb2.NodeMessage) -> grpc.aio.AioRpcError:
    async with sync_server() as server:
        node = NodeStream(server.address)
        try:
            for message in messages:
                await node.send(message)
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                while True:
                    await node.receive()
            return refused.value
        finally:
            await node.close()


@pytest.mark.parametrize(
    "message",
    [
        hello_with(node_id="edge-1\n"),
        hello_with(active=sync_pb2.SnapshotRef(version=U64, hash="a" * 64)),
        hello_with(active=sync_pb2.SnapshotRef(version=1, hash="not-hex")),
        hello_with(labels={"group": "a\x00b"}),
        hello_with(labels={"bad key": "v"}),
        hello_with(labels={f"k{i}": "v" for i in range(65)}),
        hello_with(address="x" * 301),
        hello_with(software_version="1.0\n"),
        hello_with(capabilities=["Policy Auth"]),
    ],
    ids=[
        "node id with a line feed",
        "version 2^64-1",
        "hash not hex",
        "NUL in a label",
        "label key",
        "65 labels",
        "long address",
        "software version with a line feed",
        "capability name",
    ],
)
def test_a_hello_out_of_bounds_is_invalid_argument(message: sync_pb2.NodeMessage) -> None:
    error = run(refusal(message))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()


@pytest.mark.parametrize(
    "message",
    [
        status(open_connections=U64),
        status(requests=U64),
        status(error_rate=float("nan")),
        status(error_rate=1.5),
        status(p99_ms=float("inf")),
        status(request_rate=-1.0),
        sync_pb2.NodeMessage(
            status=sync_pb2.NodeStatus(
                slots=[sync_pb2.SlotStatus(snapshot=sync_pb2.SnapshotRef(version=U64))]
            )
        ),
        sync_pb2.NodeMessage(ack=sync_pb2.Ack(nonce="n1", apply_seconds=float("nan"))),
        sync_pb2.NodeMessage(ack=sync_pb2.Ack(nonce="n1\n")),
        sync_pb2.NodeMessage(nack=sync_pb2.Nack(nonce="n1", error="bad\x00")),
        sync_pb2.NodeMessage(nack=sync_pb2.Nack(nonce="n1", error="x" * 70_000)),
    ],
    ids=[
        "open connections 2^64-1",
        "requests 2^64-1",
        "error rate NaN",
        "error rate 1.5",
        "p99 infinite",
        "negative rate",
        "slot version 2^64-1",
        "apply seconds NaN",
        "nonce with a line feed",
        "NUL in a NACK",
        "NACK of 70,000 characters",
    ],
)
def test_a_message_out_of_bounds_is_invalid_argument(message: sync_pb2.NodeMessage) -> None:
    error = run(refusal(hello(), message))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()


@pytest.mark.parametrize(
    ("raw", "first"),
    [(b"\x0a\x03\x0a\x01\xff", True), (b"\xff\xff\xff", True), (b"\x22\x02\x10\xff", False)],
    ids=["node id not UTF-8", "not protobuf", "truncated status"],
)
def test_bytes_that_do_not_parse_are_invalid_argument(raw: bytes, first: bool) -> None:
    async def scenario() -> grpc.aio.AioRpcError:
        async with sync_server() as server:
            channel = grpc.aio.insecure_channel(server.address)
            call = channel.stream_stream(
                "/fleetgate.v1.ConfigSync/Stream",
                request_serializer=lambda data: data,
                response_deserializer=sync_pb2.ControlMessage.FromString,
            )(metadata=(("authorization", f"Bearer {TOKEN}"),))
            try:
                if not first:
                    await call.write(hello().SerializeToString())
                await call.write(raw)
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    while await call.read() is not grpc.aio.EOF:
                        pass
                return refused.value
            finally:
                call.cancel()
                await channel.close()

    error = run(scenario())
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()
    assert "does not parse" in (error.details() or "")


# ---------------------------------------------------------------- the inventory goes on


@contextlib.asynccontextmanager
async def inventory_server(db: Database) -> AsyncIterator[tuple[str, NodeInventory]]:
    cache = SnapshotCache()
    cache.put(release(1))
    inventory = NodeInventory(db, offline_after=30, purge_after=3600, flush_interval=0.01)
    service = ConfigSyncService(
        cache, inventory, SyncMetrics(CollectorRegistry()), cluster_token=TOKEN
    )
    server, port = transport.sync_server(service, "127.0.0.1:0", None)
    await server.start()
    flushing = asyncio.create_task(inventory.run())
    try:
        yield f"127.0.0.1:{port}", inventory
    finally:
        flushing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await flushing
        await server.stop(grace=None)


def stored(db: Database, node_id: str) -> NodeRow | None:
    with db.session() as session:
        return session.get(NodeRow, node_id)


def test_a_report_too_big_for_sql_does_not_stop_other_nodes_being_recorded(
    store: Database,
) -> None:
    async def scenario() -> None:
        async with inventory_server(store) as (address, _):
            bad, good = NodeStream(address), NodeStream(address)
            try:
                await bad.send(hello("edge-bad"))
                await good.send(hello("edge-good"))
                push = (await good.receive()).push
                await bad.receive()
                await bad.send(status(open_connections=U64))
                with pytest.raises(grpc.aio.AioRpcError):
                    await bad.receive()
                await good.ack(push, apply_seconds=0.5)
                deadline = time.monotonic() + 10
                while (row := stored(store, "edge-good")) is None or row.apply_seconds != 0.5:
                    assert time.monotonic() < deadline, "the good node's ACK was never written"
                    await asyncio.sleep(0.02)
            finally:
                await bad.close()
                await good.close()

    run(scenario())


def test_a_record_the_store_refuses_is_dropped_and_the_rest_written(store: Database) -> None:
    async def scenario() -> None:
        inventory = NodeInventory(store, offline_after=30, purge_after=3600)
        for node_id in ("edge-a", "edge-b"):
            await inventory.connected(hello(node_id).hello, "peer")
        # Past the service's bounds, as a future bug might let through.
        inventory.reported("edge-a", status(open_connections=U64).status)
        inventory.reported("edge-b", status(open_connections=7).status)
        await inventory.flush()
        await inventory.flush()  # nothing left to retry: a no-op
        assert repr(inventory).endswith("dirty=0>")

    run(scenario())
    row = stored(store, "edge-b")
    assert row is not None and row.open_connections == 7
