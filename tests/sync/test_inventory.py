"""The node inventory in SQL (SQLite and PostgreSQL): facts written in batches, statuses
derived when read."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fleetgate_pb import sync_pb2

from control_plane.store.db import Database
from control_plane.store.nodes import NodeRow
from control_plane.sync.inventory import NodeInventory, NodeRecord, node_status
from data_plane.sync.contract import SnapshotRef

from .harness import run

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
V1 = SnapshotRef(1, "a" * 64)
V2 = SnapshotRef(2, "b" * 64)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def hello(node_id: str = "edge-1", holds: SnapshotRef | None = None) -> sync_pb2.Hello:
    message = sync_pb2.Hello(
        node_id=node_id,
        labels={"group": "green"},
        software_version="0.1.0",
        schema_version=1,
        capabilities=["service.health_check"],
        address="10.0.0.7:8080",
    )
    if holds is not None:
        message.active.CopyFrom(sync_pb2.SnapshotRef(version=holds.version, hash=holds.hash))
    return message


def inventory(db: Database, clock: Clock | None = None) -> NodeInventory:
    return NodeInventory(db, offline_after=30, purge_after=3600, clock=clock or Clock())


def row(db: Database, node_id: str = "edge-1") -> NodeRow | None:
    with db.session() as session:
        return session.get(NodeRow, node_id)


def test_a_hello_creates_the_node_row_at_once(store: Database) -> None:
    async def scenario() -> None:
        await inventory(store).connected(hello(holds=V1), "ipv4:127.0.0.1:5000")

    run(scenario())
    stored = row(store)
    assert stored is not None
    assert (stored.labels, stored.address, stored.software_version) == (
        {"group": "green"},
        "10.0.0.7:8080",
        "0.1.0",
    )
    assert (stored.applied_version, stored.applied_hash) == (V1.version, V1.hash)
    assert stored.capabilities == ["service.health_check"]
    assert stored.last_seen == T0


def test_an_ack_is_written_at_the_next_flush(store: Database) -> None:
    def applied() -> tuple[object, ...]:
        stored = row(store)
        assert stored is not None
        return (stored.applied_version, stored.applied_hash, stored.apply_seconds)

    async def scenario() -> tuple[tuple[object, ...], tuple[object, ...]]:
        nodes = inventory(store)
        await nodes.connected(hello(holds=V1), "peer")
        nodes.acked("edge-1", V2, 0.031)
        before = applied()  # batched: nothing is written until the flush
        await nodes.flush()
        return before, applied()

    before, after = run(scenario())
    assert before == (1, V1.hash, None)
    assert after == (2, V2.hash, 0.031)


def test_a_nack_stores_the_rejected_release_and_the_reason(store: Database) -> None:
    async def scenario() -> None:
        nodes = inventory(store)
        await nodes.connected(hello(), "peer")
        nodes.nacked("edge-1", V2, "this node lacks policy.auth")
        await nodes.flush()

    run(scenario())
    stored = row(store)
    assert stored is not None
    assert (stored.rejected_version, stored.rejected_hash) == (2, V2.hash)
    assert stored.last_error == "v2: this node lacks policy.auth"


def test_a_reconnecting_node_is_told_what_it_rejected_before(store: Database) -> None:
    async def scenario() -> set[SnapshotRef]:
        first = inventory(store)
        await first.connected(hello(), "peer")
        first.nacked("edge-1", V2, "no")
        first.disconnected("edge-1")
        await first.flush()
        # Another replica, sharing the store.
        return await inventory(store).connected(hello(), "peer")

    assert run(scenario()) == {V2}


def test_a_node_upgraded_since_its_refusal_is_offered_the_release_again(
    store: Database,
) -> None:
    async def scenario() -> set[SnapshotRef]:
        nodes = inventory(store)
        await nodes.connected(hello(), "peer")
        nodes.nacked("edge-1", V2, "this node lacks policy.cors")
        nodes.disconnected("edge-1")
        await nodes.flush()
        upgraded = hello()
        upgraded.capabilities.append("policy.cors")
        return await inventory(store).connected(upgraded, "peer")

    assert run(scenario()) == set()
    stored = row(store)
    assert stored is not None and stored.rejected_version is None
    assert stored.last_error == "v2: this node lacks policy.cors"


def test_status_reports_store_the_active_slot_figures(store: Database) -> None:
    async def scenario() -> None:
        nodes = inventory(store)
        await nodes.connected(hello(), "peer")
        nodes.reported(
            "edge-1",
            sync_pb2.NodeStatus(
                open_connections=12,
                slots=[
                    sync_pb2.SlotStatus(
                        slot=sync_pb2.ACTIVE,
                        request_rate=250.0,
                        error_rate=0.02,
                        p50_ms=1.5,
                        p99_ms=9.0,
                    )
                ],
            ),
        )
        await nodes.flush()

    run(scenario())
    stored = row(store)
    assert stored is not None
    assert (stored.request_rate, stored.error_rate, stored.p50_ms, stored.p99_ms) == (
        250.0,
        0.02,
        1.5,
        9.0,
    )
    assert stored.open_connections == 12


def test_status_reports_store_the_targets_health_and_breaker_state(store: Database) -> None:
    async def scenario() -> None:
        nodes = inventory(store)
        await nodes.connected(hello(), "peer")
        targets = [
            sync_pb2.TargetStatus(service="users", address="10.0.0.1:80", healthy=True),
            sync_pb2.TargetStatus(
                service="users", address="10.0.0.2:80", healthy=False, breaker="open"
            ),
        ]
        nodes.reported("edge-1", sync_pb2.NodeStatus(targets=targets))
        await nodes.flush()

    run(scenario())
    stored = row(store)
    assert stored is not None
    assert stored.targets == [
        {"service": "users", "address": "10.0.0.1:80", "healthy": True, "breaker": None},
        {"service": "users", "address": "10.0.0.2:80", "healthy": False, "breaker": "open"},
    ]


def test_a_status_report_records_the_snapshot_the_node_serves(store: Database) -> None:
    async def scenario() -> None:
        nodes = inventory(store)
        await nodes.connected(hello(), "peer")
        served = sync_pb2.SnapshotRef(version=V1.version, hash=V1.hash)
        nodes.reported(
            "edge-1",
            sync_pb2.NodeStatus(slots=[sync_pb2.SlotStatus(slot=sync_pb2.ACTIVE, snapshot=served)]),
        )
        await nodes.flush()

    run(scenario())
    stored = row(store)
    assert stored is not None
    assert (stored.applied_version, stored.applied_hash) == (V1.version, V1.hash)


def test_every_message_moves_last_seen(store: Database) -> None:
    clock = Clock()

    async def scenario() -> None:
        nodes = inventory(store, clock)
        await nodes.connected(hello(), "peer")
        clock.now = T0 + timedelta(seconds=10)
        nodes.reported("edge-1", sync_pb2.NodeStatus())
        await nodes.flush()

    run(scenario())
    stored = row(store)
    assert stored is not None and stored.last_seen == T0 + timedelta(seconds=10)


def test_a_late_flush_from_a_replica_the_node_left_does_not_roll_it_back(
    store: Database,
) -> None:
    clock = Clock()

    async def scenario() -> None:
        old_replica = inventory(store, clock)
        await old_replica.connected(hello(), "peer")
        old_replica.acked("edge-1", V1, 0.01)  # not flushed yet
        clock.now = T0 + timedelta(seconds=5)
        new_replica = inventory(store, clock)
        await new_replica.connected(hello(holds=V1), "peer")
        new_replica.acked("edge-1", V2, 0.01)
        await new_replica.flush()
        await old_replica.flush()

    run(scenario())
    stored = row(store)
    assert stored is not None and stored.applied_version == 2


def test_nodes_silent_past_offline_plus_purge_time_are_forgotten(store: Database) -> None:
    clock = Clock()

    async def scenario() -> int:
        nodes = inventory(store, clock)
        await nodes.connected(hello("old"), "peer")
        clock.now = T0 + timedelta(seconds=3000)
        await nodes.connected(hello("recent"), "peer")
        clock.now = T0 + timedelta(seconds=3631)
        return nodes.purge()

    assert run(scenario()) == 1
    assert row(store, "old") is None
    assert row(store, "recent") is not None


def test_the_running_inventory_purges_forgotten_nodes_while_others_keep_reporting(
    store: Database,
) -> None:
    clock = Clock()

    async def scenario() -> None:
        nodes = NodeInventory(
            store,
            offline_after=30,
            purge_after=3600,
            clock=clock,
            flush_interval=0.01,
            purge_every=0.05,
        )
        await nodes.connected(hello("old"), "peer")
        nodes.disconnected("old")
        clock.now = T0 + timedelta(seconds=3631)
        await nodes.connected(hello("busy"), "peer")
        running = asyncio.ensure_future(nodes.run())
        try:
            while await asyncio.to_thread(row, store, "old") is not None:
                nodes.reported("busy", sync_pb2.NodeStatus())  # a report every 10 ms
                await asyncio.sleep(0.01)
        finally:
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running

    run(scenario())
    assert row(store, "old") is None
    assert row(store, "busy") is not None


def test_a_node_purged_while_connected_is_written_again_at_the_next_flush(
    store: Database,
) -> None:
    clock = Clock()

    async def scenario() -> None:
        nodes = inventory(store, clock)
        await nodes.connected(hello(), "peer")
        clock.now = T0 + timedelta(seconds=3631)
        assert nodes.purge() == 1
        nodes.acked("edge-1", V1, 0.01)
        await nodes.flush()

    run(scenario())
    stored = row(store)
    assert stored is not None
    assert (stored.applied_version, stored.last_seen) == (V1.version, T0 + timedelta(seconds=3631))


def test_one_flush_writes_every_node_heard_since_the_last(store: Database) -> None:
    async def scenario() -> None:
        nodes = inventory(store)
        for i in range(3):
            await nodes.connected(hello(f"edge-{i}"), "peer")
            nodes.acked(f"edge-{i}", V1 if i else V2, 0.01)
        await nodes.flush()

    run(scenario())
    applied = [getattr(row(store, f"edge-{i}"), "applied_version", None) for i in range(3)]
    assert applied == [2, 1, 1]


def test_the_running_inventory_writes_a_burst_of_acks_in_one_transaction(
    store: Database,
) -> None:
    """The first ACK of a release does not go out alone while the rest are on the way."""
    written: list[list[str]] = []

    class Writes(NodeInventory):
        def _save(self, batch: list[dict[str, Any]]) -> None:
            written.append([columns["id"] for columns in batch])
            super()._save(batch)

    async def scenario() -> None:
        nodes = Writes(store, offline_after=30, purge_after=3600, flush_interval=0.05)
        for i in range(3):
            await nodes.connected(hello(f"edge-{i}"), "peer")
        running = asyncio.ensure_future(nodes.run())
        try:
            nodes.acked("edge-0", V1, 0.01)
            for _ in range(5):  # the flush loop wakes up and goes as far as it goes
                await asyncio.sleep(0)
            nodes.acked("edge-1", V1, 0.01)
            nodes.acked("edge-2", V1, 0.01)
            for _ in range(500):
                if written:
                    break
                await asyncio.sleep(0.01)
        finally:
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running

    run(scenario())
    assert sorted(written[0]) == ["edge-0", "edge-1", "edge-2"]


def test_a_disconnected_node_is_dropped_from_memory_after_its_last_flush(
    store: Database,
) -> None:
    async def scenario() -> str:
        nodes = inventory(store)
        await nodes.connected(hello(), "peer")
        nodes.disconnected("edge-1")
        await nodes.flush()
        return repr(nodes)

    assert run(scenario()) == "<NodeInventory connected=0 records=0 dirty=0>"


# ---------------------------------------------------------------- statuses


def record(**facts: object) -> NodeRecord:
    values: dict[str, object] = {
        "id": "edge-1",
        "labels": {},
        "address": "",
        "peer": "",
        "software_version": "",
        "schema_version": 1,
        "capabilities": [],
        "first_seen": T0,
        "last_seen": T0,
    }
    values.update(facts)
    return NodeRecord(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("facts", "latest", "status"),
    [
        ({"applied_version": 2, "applied_hash": V2.hash}, V2, "SYNCED"),
        ({"applied_version": 1, "applied_hash": V1.hash}, V2, "STALE"),
        ({}, V2, "STALE"),
        ({"applied_version": 2, "applied_hash": "c" * 64}, V2, "STALE"),
        (
            {
                "applied_version": 1,
                "applied_hash": V1.hash,
                "rejected_version": 2,
                "rejected_hash": V2.hash,
            },
            V2,
            "NACKED",
        ),
        ({"rejected_version": 1, "rejected_hash": V1.hash}, V2, "STALE"),
        ({}, None, "SYNCED"),
    ],
)
def test_status_follows_the_latest_release(
    facts: dict[str, object], latest: SnapshotRef | None, status: str
) -> None:
    assert node_status(record(**facts), latest, T0 + timedelta(seconds=5), 30) == status


def test_a_node_silent_longer_than_offline_after_is_offline() -> None:
    synced = record(applied_version=2, applied_hash=V2.hash)
    assert node_status(synced, V2, T0 + timedelta(seconds=30), 30) == "SYNCED"
    assert node_status(synced, V2, T0 + timedelta(seconds=31), 30) == "OFFLINE"


def test_a_record_is_written_as_its_columns_without_copying_its_labels() -> None:
    """A flush at fleet scale writes thousands of records: no deep copy per record."""
    labels = {"group": "blue", "zone": "eu-1"}
    kept = record(labels=labels, capabilities=["retries"], applied_version=3)
    columns = kept.columns()
    assert set(columns) == {column.name for column in NodeRow.__table__.columns}
    assert columns["applied_version"] == 3
    assert columns["labels"] is labels
