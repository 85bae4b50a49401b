"""Snapshot pushes as bytes on the wire, the snapshot serialized once per release.

A push is `ControlMessage{push: SnapshotPush{nonce, slot, snapshot}}`: only the nonce
differs from one node to the next. Built as a message per stream, every stream copied
the snapshot into a new message and serialized it again (2,000 nodes, 2,000 copies of
each release). Protobuf fields may come in any order, so the slot and snapshot fields
are encoded once per release (`PushTail`) and each stream only puts its nonce in front.
The bytes parse to exactly the message that would have been built.
"""

from __future__ import annotations

from fleetgate_pb import sync_pb2 as pb

# ControlMessage.push: field 1, length-delimited (wire type 2).
_PUSH_TAG = bytes([(pb.ControlMessage.DESCRIPTOR.fields_by_name["push"].number << 3) | 2])


def varint(value: int) -> bytes:
    """`value` (>= 0) as a protobuf base-128 varint."""
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def push_tail(slot: int, snapshot: bytes) -> bytes:
    """The encoded slot and snapshot fields of a SnapshotPush: once per release and slot."""
    return pb.SnapshotPush(slot=slot, snapshot=snapshot).SerializeToString()


def push_bytes(nonce: str, tail: bytes) -> bytes:
    """The serialized ControlMessage pushing `tail`'s snapshot under `nonce`."""
    inner = pb.SnapshotPush(nonce=nonce).SerializeToString() + tail
    return b"".join((_PUSH_TAG, varint(len(inner)), inner))


def control_message_bytes(message: pb.ControlMessage | bytes) -> bytes:
    """The stream's serializer: pushes come encoded already, other messages are encoded here."""
    if isinstance(message, bytes):
        return message
    return message.SerializeToString()
