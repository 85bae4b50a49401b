"""Pushes on the wire: the snapshot encoded once per release, only the nonce per stream."""

from __future__ import annotations

import pytest
from fleetgate_pb import sync_pb2

from control_plane.sync import service as service_module
from control_plane.sync.wire import control_message_bytes, push_bytes, push_tail, varint

from .harness import NodeStream, hello, release, run, sync_server


@pytest.mark.parametrize("value", [0, 1, 127, 128, 300, 16_383, 16_384, 2**31, 2**63 - 1])
def test_varints_are_encoded_as_protobuf_encodes_them(value: int) -> None:
    # a uint64 field 1 is the tag byte 0x08 followed by the value's varint
    encoded = sync_pb2.SnapshotRef(version=value).SerializeToString()
    assert encoded == (b"\x08" + varint(value) if value else b"")


@pytest.mark.parametrize("size", [0, 1, 127, 128, 70_000, 3_000_000])
@pytest.mark.parametrize("slot", [sync_pb2.ACTIVE, sync_pb2.CANDIDATE])
def test_a_push_parses_to_the_message_built_field_by_field(size: int, slot: int) -> None:
    snapshot = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    built = sync_pb2.ControlMessage(
        push=sync_pb2.SnapshotPush(nonce="0123456789abcdef", slot=slot, snapshot=snapshot)
    )
    wire = push_bytes("0123456789abcdef", push_tail(slot, snapshot))
    assert sync_pb2.ControlMessage.FromString(wire) == built


def test_other_messages_are_serialized_as_they_come() -> None:
    message = sync_pb2.ControlMessage(promote=sync_pb2.Promote(nonce="n1"))
    assert control_message_bytes(message) == message.SerializeToString()
    assert control_message_bytes(b"\x0a\x00") == b"\x0a\x00"


def test_a_release_sent_to_many_nodes_is_encoded_once(monkeypatch: pytest.MonkeyPatch) -> None:
    encoded: list[int] = []

    def counting_tail(slot: int, snapshot: bytes) -> bytes:
        encoded.append(len(snapshot))
        return push_tail(slot, snapshot)

    monkeypatch.setattr(service_module, "push_tail", counting_tail)

    async def scenario() -> list[sync_pb2.SnapshotPush]:
        async with sync_server() as server:
            server.cache.put(release(1))
            nodes = [NodeStream(server.address) for _ in range(3)]
            pushes = []
            for index, node in enumerate(nodes):
                await node.send(hello(f"node-{index}"))
                pushes.append((await node.receive()).push)
            for node in nodes:
                await node.close()
            return pushes

    pushes = run(scenario())
    assert len(encoded) == 1
    assert len({push.snapshot for push in pushes}) == 1
    assert len({push.nonce for push in pushes}) == 3
