"""The release watcher: the cache follows the store, by hook, NOTIFY or polling."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry
from sqlalchemy import text

from control_plane.store.db import Database
from control_plane.store.models import ReleaseRow
from control_plane.store.releases import NOTIFY_CHANNEL, Release
from control_plane.sync.cache import SnapshotCache
from control_plane.sync.metrics import SyncMetrics
from control_plane.sync.watcher import ReleaseWatcher

from .harness import notify_only_watcher, run, snapshot


def store_release(db: Database, version: int) -> Release:
    """Commit a release row the way the release maker does, NOTIFY included."""
    built = snapshot(version)
    row = ReleaseRow(
        version=version,
        hash=built.hash,
        snapshot=built.SerializeToString(),
        created_at=datetime.now(UTC),
        author="test",
    )
    with db.session() as session:
        session.add(row)
        session.flush()
        if db.is_postgres:
            session.execute(
                text("SELECT pg_notify(:channel, :version)"),
                {"channel": NOTIFY_CHANNEL, "version": str(version)},
            )
        session.commit()
        return Release.of(row)


def test_refresh_loads_the_latest_release_into_the_cache(sqlite_db: Database) -> None:
    store_release(sqlite_db, 1)
    store_release(sqlite_db, 2)

    async def scenario() -> tuple[int, bytes]:
        cache = SnapshotCache()
        await ReleaseWatcher(sqlite_db, cache).refresh()
        latest = cache.latest()
        assert latest is not None
        return latest.version, latest.payload

    version, payload = run(scenario())
    assert version == 2
    assert payload == snapshot(2).SerializeToString()


def test_an_empty_store_leaves_the_cache_empty(sqlite_db: Database) -> None:
    async def scenario() -> None:
        cache = SnapshotCache()
        await ReleaseWatcher(sqlite_db, cache).refresh()
        assert cache.latest() is None

    run(scenario())


def test_the_in_process_hook_puts_the_release_at_once(sqlite_db: Database) -> None:
    release = store_release(sqlite_db, 1)

    async def scenario() -> int | None:
        cache = SnapshotCache()
        ReleaseWatcher(sqlite_db, cache).release_made(release)
        latest = cache.latest()
        return latest.version if latest else None

    assert run(scenario()) == 1


def test_the_commit_time_travels_with_the_release(sqlite_db: Database) -> None:
    release = store_release(sqlite_db, 1)

    async def scenario() -> float:
        cache = SnapshotCache()
        ReleaseWatcher(sqlite_db, cache).release_made(release)
        return cache.latest().committed_at  # type: ignore[union-attr]

    assert run(scenario()) == release.created_at.timestamp()


def test_polling_picks_up_a_release_made_by_another_replica(sqlite_db: Database) -> None:
    async def scenario() -> int:
        cache = SnapshotCache()
        watcher = ReleaseWatcher(sqlite_db, cache, poll_interval=0.05)
        task = asyncio.create_task(watcher.run())
        try:
            await asyncio.to_thread(store_release, sqlite_db, 1)
            return (await cache.wait_newer(0)).version
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    assert run(scenario()) == 1


def test_notify_delivers_a_release_from_another_replica_without_polling(
    postgres_db: Database,
) -> None:
    async def scenario() -> int:
        cache = SnapshotCache()
        async with notify_only_watcher(postgres_db, cache):
            await asyncio.to_thread(store_release, postgres_db, 1)
            await cache.wait_newer(0)
            await asyncio.to_thread(store_release, postgres_db, 2)
            return (await cache.wait_newer(1)).version

    assert run(scenario()) == 2


def test_the_snapshot_size_and_version_are_exported(sqlite_db: Database) -> None:
    release = store_release(sqlite_db, 3)
    registry = CollectorRegistry()

    async def scenario() -> None:
        ReleaseWatcher(sqlite_db, SnapshotCache(), SyncMetrics(registry)).release_made(release)

    run(scenario())
    assert registry.get_sample_value("fleetgate_sync_snapshot_bytes") == len(release.snapshot)
    assert registry.get_sample_value("fleetgate_sync_release_version") == 3
