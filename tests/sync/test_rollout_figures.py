"""A rollout's figures from node reports, its gate decided by one elected replica, and
the lease that elects it (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import copy
from datetime import UTC, datetime, timedelta
from typing import Any

from fleetgate_pb import sync_pb2

from control_plane.admin_auth import AdminAuth
from control_plane.plane import ControlPlane
from control_plane.releases import ReleaseMaker
from control_plane.rollouts.decider import GateDecider
from control_plane.rollouts.lifecycle import Rollouts, rollout_json
from control_plane.rollouts.spec import RolloutRequest
from control_plane.settings import ControlPlaneSettings
from control_plane.store.catalog import Catalog
from control_plane.store.db import Database
from control_plane.store.leases import acquire
from control_plane.store.releases import make_release
from control_plane.store.rollouts import RolloutRow, latest
from control_plane.sync.cache import SnapshotCache
from control_plane.sync.inventory import NodeInventory
from data_plane.config.model import GatewayConfig

from .harness import notify_only_watcher, run

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
ACTIVE = {
    "services": [{"name": "app", "targets": [{"address": "127.0.0.1:9001"}]}],
    "routes": [{"name": "app", "paths": ["/app/**"], "service": "app"}],
}
GATE = {"soak": 60, "min_requests": 10, "max_error_rate_delta": 0.01, "max_p99_ratio": 2}


def started(db: Database, gate: dict[str, Any] | None = GATE) -> RolloutRow:
    """A store with release 1 and a rollout of another target, by header."""
    with db.session() as session:
        Catalog(session).apply(GatewayConfig.model_validate(ACTIVE))
    make_release(db, author="test")
    candidate = copy.deepcopy(ACTIVE)
    candidate["services"][0]["targets"] = [{"address": "127.0.0.1:9002"}]
    body = {"config": candidate, "selector": {"header": {"name": "x-c", "value": "1"}}}
    if gate is not None:
        body["gate"] = gate
    with db.session() as session:
        return Rollouts(Catalog(session)).start(RolloutRequest.model_validate(body))


def report(active: tuple[int, float, float], candidate: tuple[int, float, float]) -> Any:
    slots = []
    for slot, (requests, error_rate, p99) in (
        (sync_pb2.ACTIVE, active),
        (sync_pb2.CANDIDATE, candidate),
    ):
        slots.append(
            sync_pb2.SlotStatus(slot=slot, requests=requests, error_rate=error_rate, p99_ms=p99)
        )
    return sync_pb2.NodeStatus(slots=slots)


def figures(db: Database) -> dict[str, Any]:
    with db.session() as session:
        row = latest(session)
        assert row is not None
        shown: dict[str, Any] = rollout_json(row)["figures"]
        return shown


def test_reports_of_every_node_add_up_in_the_running_rollout(store: Database) -> None:
    rollout = started(store)

    async def scenario() -> None:
        nodes = NodeInventory(store, offline_after=30, purge_after=3600, rollout=lambda: rollout.id)
        for node_id in ("edge-1", "edge-2"):
            hello = sync_pb2.Hello(node_id=node_id, software_version="t", schema_version=1)
            await nodes.connected(hello, "ipv4:127.0.0.1:1")
        nodes.reported("edge-1", report((90, 0.0, 10.0), (10, 0.5, 30.0)))
        nodes.reported("edge-2", report((90, 0.0, 20.0), (30, 0.0, 10.0)))
        await nodes.flush()
        nodes.reported("edge-1", report((20, 0.0, 10.0), (0, 0.0, 0.0)))
        await nodes.flush()

    run(scenario())
    assert figures(store) == {
        "active": {"requests": 200, "error_rate": 0.0, "p99_ms": 14.5},
        "candidate": {"requests": 40, "error_rate": 0.125, "p99_ms": 15.0},
    }


def test_reports_without_a_running_rollout_add_to_nothing(store: Database) -> None:
    started(store)

    async def scenario() -> None:
        nodes = NodeInventory(store, offline_after=30, purge_after=3600)
        hello = sync_pb2.Hello(node_id="edge-1", software_version="t", schema_version=1)
        await nodes.connected(hello, "ipv4:127.0.0.1:1")
        nodes.reported("edge-1", report((90, 0.0, 10.0), (10, 0.5, 30.0)))
        await nodes.flush()

    run(scenario())
    assert figures(store)["candidate"]["requests"] == 0


def test_a_lease_is_held_by_one_replica_until_it_expires(store: Database) -> None:
    with store.session() as session:
        assert acquire(session, "duty", "a", T0, 10)
    with store.session() as session:
        assert not acquire(session, "duty", "b", T0 + timedelta(seconds=5), 10)
    with store.session() as session:
        assert acquire(session, "duty", "a", T0 + timedelta(seconds=5), 10)  # renewed
    with store.session() as session:
        assert not acquire(session, "duty", "b", T0 + timedelta(seconds=14), 10)
    with store.session() as session:
        assert acquire(session, "duty", "b", T0 + timedelta(seconds=15), 10)


def plane(db: Database) -> ControlPlane:
    settings = ControlPlaneSettings(db=str(db.url.render_as_string(hide_password=False)))
    return ControlPlane.build(settings, db, AdminAuth.for_token("t" * 32), ReleaseMaker(db))


def breach(db: Database, rollout: RolloutRow) -> None:
    with db.session() as session:
        row = session.get(RolloutRow, rollout.id)
        assert row is not None
        row.figures = {
            "active": {"requests": 100, "errors": 0, "p99_weight": 1000.0},
            "candidate": {"requests": 20, "errors": 10, "p99_weight": 200.0},
        }
        session.commit()


def test_only_the_replica_holding_the_lease_rolls_back_a_breach_with_the_reason(
    store: Database,
) -> None:
    rollout = started(store)
    clock = lambda: rollout.started_at + timedelta(seconds=5)  # noqa: E731
    first = GateDecider(plane(store), holder="replica-a", clock=clock)
    second = GateDecider(plane(store), holder="replica-b", clock=clock)
    assert first.step() is None and first.leading  # too few requests yet: it waits
    assert second.step() is None and not second.leading
    breach(store, rollout)
    assert second.step() is None  # the breach is not its to act on
    with store.session() as session:
        row = latest(session)
        assert row is not None and row.state == "running"
    verdict = first.step()
    assert verdict is not None and verdict.action == "rollback"
    with store.session() as session:
        row = latest(session)
        assert row is not None
        assert (row.state, row.ended_by) == ("rolled_back", "gate")
        assert row.reason is not None and row.reason.startswith("gate: candidate 5xx rate 0.500")


def test_the_gate_waits_while_the_candidate_has_too_few_requests(store: Database) -> None:
    started(store)
    clock = lambda: T0 + timedelta(days=1)  # noqa: E731
    assert GateDecider(plane(store), holder="a", clock=clock).step() is None
    with store.session() as session:
        row = latest(session)
        assert row is not None and row.state == "running"
        assert rollout_json(row)["verdict"].startswith("wait: 0 of 10 candidate requests")


def test_a_rollout_without_a_gate_is_left_to_the_operator(store: Database) -> None:
    rollout = started(store, gate=None)
    breach(store, rollout)
    assert GateDecider(plane(store), holder="a").step() is None
    with store.session() as session:
        row = latest(session)
        assert row is not None and row.state == "running"
        assert rollout_json(row)["verdict"] is None


def test_a_rollout_started_and_rolled_back_through_another_replica_reaches_the_cache_by_notify(
    postgres_db: Database,
) -> None:
    async def scenario() -> bool:
        cache = SnapshotCache()
        async with notify_only_watcher(postgres_db, cache):
            generation = cache.generation
            rollout = await asyncio.to_thread(started, postgres_db)
            while cache.rollout is None:
                generation = await cache.wait_change(generation)
            seen = cache.rollout.id

            def rollback() -> None:
                with postgres_db.session() as session:
                    Rollouts(Catalog(session)).rollback()

            await asyncio.to_thread(rollback)
            while cache.rollout is not None:
                generation = await cache.wait_change(generation)
            return rollout.id == seen

    assert run(scenario())
