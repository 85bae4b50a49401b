"""A node's status report, built from its supervisor's figures."""

from __future__ import annotations

from dataclasses import dataclass, field

from fleetgate_pb import sync_pb2

from data_plane.resilience.report import MAX_REPORTED, TargetState
from data_plane.sync.contract import node_message_problem
from data_plane.sync.status import status_message


@dataclass
class Side:
    requests: int
    request_rate: float = 5.0
    error_rate: float = 0.5
    p50_ms: float = 2.0
    p99_ms: float = 30.0


@dataclass
class Figures:
    version: int = 7
    hash: str = "ab" * 32
    candidate_version: int = 0
    candidate_hash: str = ""
    requests: int = 1200
    request_rate: float = 120.0
    error_rate: float = 0.005
    p50_ms: float = 1.25
    p99_ms: float = 9.5
    open_connections: int = 40
    uptime_seconds: float = 3600.0
    targets: tuple[TargetState, ...] = field(default_factory=tuple)
    sides: tuple[Side, Side] = field(default_factory=lambda: (Side(1150), Side(50)))


def test_the_report_carries_the_active_slot_figures_and_snapshot() -> None:
    report = status_message(Figures())
    (slot,) = report.slots
    assert slot.slot == sync_pb2.ACTIVE
    assert (slot.snapshot.version, slot.snapshot.hash) == (7, "ab" * 32)
    assert (slot.request_rate, slot.error_rate, slot.p50_ms, slot.p99_ms, slot.requests) == (
        120.0,
        0.005,
        1.25,
        9.5,
        1200,
    )
    assert (report.open_connections, report.uptime_seconds) == (40, 3600.0)


def test_a_node_holding_nothing_reports_no_snapshot() -> None:
    (slot,) = status_message(Figures(version=0, hash="")).slots
    assert not slot.HasField("snapshot")


def test_the_report_carries_each_targets_health_and_breaker_state() -> None:
    targets = (
        TargetState("users", "10.0.0.1:80", True, "closed"),
        TargetState("users", "10.0.0.2:80", False, "open"),
        TargetState("search", "10.0.0.3:80", False, ""),
    )
    report = status_message(Figures(targets=targets))
    assert [(t.service, t.address, t.healthy, t.breaker) for t in report.targets] == list(targets)


def test_the_report_holds_at_most_1000_targets_and_the_stream_refuses_more() -> None:
    many = tuple(TargetState("s", f"10.0.{i // 250}.{i % 250}:80", True, "") for i in range(1200))
    report = status_message(Figures(targets=many))
    assert len(report.targets) == MAX_REPORTED
    assert node_message_problem(sync_pb2.NodeMessage(status=report)) is None
    report.targets.add(service="s", address="10.9.9.9:80")
    assert (
        node_message_problem(sync_pb2.NodeMessage(status=report)) == "status.targets: at most 1000"
    )


def test_the_stream_refuses_a_breaker_state_it_does_not_know() -> None:
    report = status_message(Figures(targets=(TargetState("s", "10.0.0.1:80", True, "ajar"),)))
    assert node_message_problem(sync_pb2.NodeMessage(status=report)) == (
        "status.targets.0.breaker: one of closed, open, half_open or empty"
    )


def test_a_node_serving_a_candidate_reports_each_side_in_its_slot() -> None:
    report = status_message(Figures(candidate_version=8, candidate_hash="cd" * 32))
    active, candidate = report.slots
    assert (active.slot, candidate.slot) == (sync_pb2.ACTIVE, sync_pb2.CANDIDATE)
    assert (active.snapshot.version, active.requests) == (7, 1150)
    assert (candidate.snapshot.version, candidate.snapshot.hash) == (8, "cd" * 32)
    assert (candidate.requests, candidate.error_rate, candidate.p99_ms) == (50, 0.5, 30.0)
