"""A node's status report on the sync stream, from the figures its supervisor keeps.

While the node serves a rollout's candidate, each slot carries the figures of its own
side (the control plane adds them up into the rollout's figures and judges the gate);
otherwise the active slot carries every request's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from fleetgate_pb import sync_pb2 as pb

from data_plane.resilience.report import MAX_REPORTED, TargetState


class SideFigures(Protocol):
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


class NodeFigures(SideFigures, Protocol):
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
    def open_connections(self) -> int: ...
    @property
    def uptime_seconds(self) -> float: ...
    @property
    def targets(self) -> Sequence[TargetState]: ...
    @property
    def sides(self) -> Sequence[SideFigures]: ...


def _slot(slot: pb.Slot, figures: SideFigures) -> pb.SlotStatus:
    return pb.SlotStatus(
        slot=slot,
        request_rate=figures.request_rate,
        error_rate=figures.error_rate,
        p50_ms=figures.p50_ms,
        p99_ms=figures.p99_ms,
        requests=figures.requests,
    )


def status_message(figures: NodeFigures) -> pb.NodeStatus:
    rollout = bool(figures.candidate_hash)
    slot = _slot(pb.ACTIVE, figures.sides[0] if rollout else figures)
    if figures.version or figures.hash:
        slot.snapshot.CopyFrom(pb.SnapshotRef(version=figures.version, hash=figures.hash))
    slots = [slot]
    if rollout:
        candidate = _slot(pb.CANDIDATE, figures.sides[1])
        ref = pb.SnapshotRef(version=figures.candidate_version, hash=figures.candidate_hash)
        candidate.snapshot.CopyFrom(ref)
        slots.append(candidate)
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
