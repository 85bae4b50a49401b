"""A node's status report, built from its supervisor's figures."""

from __future__ import annotations

from dataclasses import dataclass

from fleetgate_pb import sync_pb2

from data_plane.sync.status import status_message


@dataclass
class Figures:
    version: int = 7
    hash: str = "ab" * 32
    requests: int = 1200
    request_rate: float = 120.0
    error_rate: float = 0.005
    p50_ms: float = 1.25
    p99_ms: float = 9.5
    open_connections: int = 40
    uptime_seconds: float = 3600.0


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
