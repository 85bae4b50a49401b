"""The ConfigSync servicer over a real grpc.aio server and client on loopback."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from fleetgate_pb import sync_pb2

from .harness import TOKEN, NodeStream, hello, pushed_version, release, run, sync_server


def test_a_node_holding_nothing_is_sent_the_latest_release_with_a_nonce() -> None:
    async def scenario() -> sync_pb2.ControlMessage:
        async with sync_server() as server:
            server.cache.put(release(1))
            node = NodeStream(server.address)
            await node.send(hello())
            message = await node.receive()
            await node.close()
            return message

    message = run(scenario())
    assert pushed_version(message) == 1
    assert message.push.slot == sync_pb2.ACTIVE
    assert len(message.push.nonce) >= 8


def test_the_pushed_bytes_are_the_release_payload_unchanged() -> None:
    async def scenario() -> bytes:
        async with sync_server() as server:
            server.cache.put(release(1))
            node = NodeStream(server.address)
            await node.send(hello())
            message = await node.receive()
            await node.close()
            return message.push.snapshot

    assert run(scenario()) == release(1).payload


def test_every_push_carries_a_fresh_nonce() -> None:
    async def scenario() -> set[str]:
        async with sync_server() as server:
            server.cache.put(release(1))
            nonces = set()
            for i in range(3):
                node = NodeStream(server.address)
                await node.send(hello(f"node-{i}"))
                nonces.add((await node.receive()).push.nonce)
                await node.close()
            return nonces

    assert len(run(scenario())) == 3


def test_a_node_already_holding_the_latest_release_is_sent_nothing() -> None:
    async def scenario() -> int:
        async with sync_server() as server:
            server.cache.put(release(1))
            node = NodeStream(server.address)
            await node.send(hello(holds=release(1)))
            await server.inventory.wait_for("connected", "node-1")
            # Had v1 been pushed, it would arrive before v2.
            server.cache.put(release(2))
            version = pushed_version(await node.receive())
            await node.close()
            return version

    assert run(scenario()) == 2


def test_a_node_that_was_away_gets_the_latest_release_only() -> None:
    async def scenario() -> list[int]:
        async with sync_server() as server:
            for version in (1, 2, 3):
                server.cache.put(release(version))
            node = NodeStream(server.address)
            await node.send(hello(holds=release(1)))
            first = await node.receive()
            await node.ack(first.push)
            server.cache.put(release(4))
            second = await node.receive()
            await node.close()
            return [pushed_version(first), pushed_version(second)]

    assert run(scenario()) == [3, 4]


def test_releases_made_while_a_push_is_unanswered_are_coalesced_into_the_latest() -> None:
    async def scenario() -> list[int]:
        async with sync_server() as server:
            server.cache.put(release(1))
            node = NodeStream(server.address)
            await node.send(hello())
            first = await node.receive()
            for version in (2, 3, 4):
                server.cache.put(release(version))
            await node.ack(first.push)
            second = await node.receive()
            await node.close()
            return [pushed_version(first), pushed_version(second)]

    assert run(scenario()) == [1, 4]


def test_an_ack_is_recorded_in_the_inventory() -> None:
    async def scenario() -> list[tuple[str, ...]]:
        async with sync_server() as server:
            server.cache.put(release(1))
            node = NodeStream(server.address)
            await node.send(hello())
            await node.ack((await node.receive()).push)
            await server.inventory.wait_for("acked", "node-1", "1")
            await node.close()
            return server.inventory.events

    assert ("acked", "node-1", "1") in run(scenario())


def test_a_nack_is_recorded_with_its_reason() -> None:
    async def scenario() -> list[tuple[str, ...]]:
        async with sync_server() as server:
            server.cache.put(release(1))
            node = NodeStream(server.address)
            await node.send(hello())
            await node.nack((await node.receive()).push, "missing capability policy.auth")
            await server.inventory.wait_for(
                "nacked", "node-1", "1", "missing capability policy.auth"
            )
            await node.close()
            return server.inventory.events

    assert run(scenario())


def test_a_rejected_release_is_not_sent_again_on_the_same_stream() -> None:
    async def scenario() -> int:
        async with sync_server() as server:
            server.cache.put(release(1))
            node = NodeStream(server.address)
            await node.send(hello())
            await node.nack((await node.receive()).push, "cannot apply")
            await server.inventory.wait_for("nacked", "node-1", "1", "cannot apply")
            # Had v1 been re-sent, it would arrive before v2.
            server.cache.put(release(2))
            version = pushed_version(await node.receive())
            await node.close()
            return version

    assert run(scenario()) == 2


def test_a_rejected_release_is_not_sent_again_after_the_node_reconnects() -> None:
    async def scenario() -> int:
        async with sync_server() as server:
            server.cache.put(release(1))
            node = NodeStream(server.address)
            await node.send(hello())
            await node.nack((await node.receive()).push, "cannot apply")
            await server.inventory.wait_for("nacked", "node-1", "1", "cannot apply")
            await node.close()
            await server.inventory.wait_for("disconnected", "node-1")

            again = NodeStream(server.address)
            await again.send(hello())
            await server.inventory.wait_for("connected", "node-1")
            server.cache.put(release(2))
            version = pushed_version(await again.receive())
            await again.close()
            return version

    assert run(scenario()) == 2


def test_status_reports_reach_the_inventory() -> None:
    async def scenario() -> sync_pb2.NodeStatus:
        async with sync_server() as server:
            node = NodeStream(server.address)
            await node.send(hello())
            status = sync_pb2.NodeStatus(
                slots=[sync_pb2.SlotStatus(request_rate=12.5, error_rate=0.01, p99_ms=4.0)]
            )
            await node.send(sync_pb2.NodeMessage(status=status))
            await server.inventory.wait_for("reported", "node-1")
            await node.close()
            return server.inventory.statuses[0]

    assert run(scenario()).slots[0].request_rate == 12.5


@pytest.mark.parametrize("token", [None, "wrong-token", ""])
def test_a_missing_or_wrong_token_gets_unauthenticated_and_no_config(token: str | None) -> None:
    async def scenario() -> grpc.aio.AioRpcError:
        async with sync_server() as server:
            server.cache.put(release(1))
            node = NodeStream(server.address, token=token)
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await node.send(hello())  # the refusal may already end the write
                await node.receive()
            await node.close()
            assert server.inventory.events == []
            return refused.value

    error = run(scenario())
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED


def test_the_first_message_must_be_a_hello() -> None:
    async def scenario() -> grpc.aio.AioRpcError:
        async with sync_server() as server:
            server.cache.put(release(1))
            node = NodeStream(server.address)
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await node.send(sync_pb2.NodeMessage(status=sync_pb2.NodeStatus()))
                await node.receive()
            await node.close()
            return refused.value

    error = run(scenario())
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "hello" in (error.details() or "")


def test_a_hello_without_a_valid_node_id_is_refused() -> None:
    async def scenario() -> grpc.aio.AioRpcError:
        async with sync_server() as server:
            node = NodeStream(server.address)
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await node.send(hello(node_id="bad id with spaces"))
                await node.receive()
            await node.close()
            return refused.value

    error = run(scenario())
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "node_id" in (error.details() or "")


def test_an_accepted_hello_is_confirmed_in_the_initial_metadata() -> None:
    async def scenario() -> dict[str, str | bytes]:
        async with sync_server() as server:
            node = NodeStream(server.address)
            await node.send(hello("edge-7"))
            metadata = await node.call.initial_metadata()
            await node.close()
            return dict(metadata or ())

    assert run(scenario())["fleetgate-accepted-node"] == "edge-7"


def test_the_initial_metadata_says_whether_a_push_follows() -> None:
    async def scenario() -> list[str | bytes]:
        async with sync_server() as server:
            outlooks = []
            for node_id, holds in (("a", None), ("b", release(1))):
                server.cache.put(release(1))
                node = NodeStream(server.address)
                await node.send(hello(node_id, holds=holds))
                outlooks.append(dict(await node.call.initial_metadata())["fleetgate-outlook"])
                await node.close()
            return outlooks

    assert run(scenario()) == ["push", "current"]


def test_live_acks_feed_the_propagation_histogram_and_catch_up_acks_do_not() -> None:
    async def scenario() -> float:
        async with sync_server(clock=lambda: 100.25) as server:
            server.cache.put(release(1, committed_at=50.0))
            node = NodeStream(server.address)
            await node.send(hello())
            await node.ack((await node.receive()).push)  # catching up: not counted
            await server.inventory.wait_for("acked", "node-1", "1")
            server.cache.put(release(2, committed_at=100.0))
            await node.ack((await node.receive()).push)
            await server.inventory.wait_for("acked", "node-1", "2")
            await node.close()
            count = server.registry.get_sample_value("fleetgate_sync_propagation_seconds_count")
            total = server.registry.get_sample_value("fleetgate_sync_propagation_seconds_sum")
            assert count == 1
            return total or 0.0

    assert run(scenario()) == pytest.approx(0.25)


def test_the_connected_nodes_gauge_follows_open_streams() -> None:
    async def scenario() -> list[float | None]:
        async with sync_server() as server:
            gauge = "fleetgate_sync_connected_nodes"
            node = NodeStream(server.address)
            await node.send(hello())
            await node.call.initial_metadata()
            during = server.registry.get_sample_value(gauge)
            await node.close()
            await server.inventory.wait_for("disconnected", "node-1")
            return [during, server.registry.get_sample_value(gauge)]

    assert run(scenario()) == [1.0, 0.0]


def test_the_service_refuses_to_run_without_a_cluster_token() -> None:
    from prometheus_client import CollectorRegistry

    from control_plane.sync.cache import SnapshotCache
    from control_plane.sync.metrics import SyncMetrics
    from control_plane.sync.service import ConfigSyncService

    from .harness import RecordingInventory

    with pytest.raises(ValueError, match="cluster token"):
        ConfigSyncService(
            SnapshotCache(),
            RecordingInventory(),
            SyncMetrics(CollectorRegistry()),
            cluster_token="",
        )


def test_the_token_must_be_sent_as_a_bearer_credential() -> None:
    async def scenario() -> grpc.StatusCode:
        async with sync_server() as server:
            channel = grpc.aio.insecure_channel(server.address)
            from fleetgate_pb import sync_pb2_grpc

            call = sync_pb2_grpc.ConfigSyncStub(channel).Stream(
                metadata=(("authorization", TOKEN),)
            )
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await call.write(hello())
                await asyncio.wait_for(call.read(), 5)
            await channel.close()
            return refused.value.code()

    assert run(scenario()) == grpc.StatusCode.UNAUTHENTICATED
