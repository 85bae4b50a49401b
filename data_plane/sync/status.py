"""A node's status report on the sync stream, from the figures its supervisor keeps."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from fleetgate_pb import sync_pb2 as pb

from data_plane.resilience.report import MAX_REPORTED, TargetState


class NodeFigures(Protocol):
    """What `data_plane.node.Node.stats()` returns: figures since the previous call."""

    @property
    def version(self) -> int: ...
    @property
    def hash(self) -> str: ...
    @property
    def candidate_version(self) -> int: ...
    @property
    def candidate_hash(self) -> str: ...
    @property
    def requests(self) -> int: ...
    @property
    def request_rate(self) -> float: ...
    @property
    def error_rate(self) -> float: ...
    @property
    def p50_ms(self) -> float: ...
    @property
    def p99_ms(self) -> float: ...
    @property
    def open_connections(self) -> int: ...
    @property
    def uptime_seconds(self) -> float: ...
    @property
    def targets(self) -> Sequence[TargetState]: ...


def status_message(figures: NodeFigures) -> pb.NodeStatus:
    slot = pb.SlotStatus(
        slot=pb.ACTIVE,
        request_rate=figures.request_rate,
        error_rate=figures.error_rate,
        p50_ms=figures.p50_ms,
        p99_ms=figures.p99_ms,
        requests=figures.requests,
    )
    if figures.version or figures.hash:
        slot.snapshot.CopyFrom(pb.SnapshotRef(version=figures.version, hash=figures.hash))
    slots = [slot]
    if figures.candidate_hash:
        ref = pb.SnapshotRef(version=figures.candidate_version, hash=figures.candidate_hash)
        slots.append(pb.SlotStatus(slot=pb.CANDIDATE, snapshot=ref))
    return pb.NodeStatus(
        slots=slots,
        open_connections=figures.open_connections,
        uptime_seconds=figures.uptime_seconds,
        targets=[
            pb.TargetStatus(
                service=t.service, address=t.address, healthy=t.healthy, breaker=t.breaker
            )
            for t in figures.targets[:MAX_REPORTED]
        ],
    )
