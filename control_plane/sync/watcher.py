"""Keeps the snapshot cache on the store's latest release, whichever replica made it.

Three ways to hear of a release, fastest first: the in-process hook of this replica's
release maker (`release_made`); PostgreSQL LISTEN on `fleetgate_releases`, which the
release maker NOTIFYs in the release's own transaction, so a change made through
replica A reaches the nodes of replica B at once; and polling the latest version
every second, which is all SQLite has and which covers a dropped LISTEN connection.
All three may report the same release; the cache keeps the newest.
"""

from __future__ import annotations

import asyncio
import logging

import psycopg

from control_plane.store import releases
from control_plane.store.db import Database
from control_plane.store.releases import NOTIFY_CHANNEL, Release

from .cache import CachedRelease, SnapshotCache
from .metrics import SyncMetrics

log = logging.getLogger("fleetgate.sync")

POLL_INTERVAL = 1.0
LISTEN_RETRY = 2.0  # seconds before reconnecting a lost LISTEN connection


def cached(release: Release) -> CachedRelease:
    return CachedRelease(
        release.version, release.hash, release.snapshot, release.created_at.timestamp()
    )


class ReleaseWatcher:
    def __init__(
        self,
        db: Database,
        cache: SnapshotCache,
        metrics: SyncMetrics | None = None,
        *,
        poll_interval: float = POLL_INTERVAL,
    ) -> None:
        self._db = db
        self._cache = cache
        self._metrics = metrics
        self._poll_interval = poll_interval
        self.listening = False

    def release_made(self, release: Release) -> None:
        """The release maker's subscriber: called on the loop after each new release."""
        self._put(cached(release))

    async def refresh(self) -> None:
        """Load the latest release from the store if the cache is behind it."""
        version = await asyncio.to_thread(self._latest_version)
        current = self._cache.latest()
        if version is None or (current is not None and version <= current.version):
            return
        release = await asyncio.to_thread(self._load, version)
        if release is not None:
            self._put(cached(release))

    async def run(self) -> None:
        """Poll (and LISTEN on PostgreSQL) until cancelled."""
        async with asyncio.TaskGroup() as group:
            group.create_task(self._poll())
            if self._db.is_postgres:
                group.create_task(self._listen())

    # ------------------------------------------------------------ the three ways

    async def _poll(self) -> None:
        while True:
            try:
                await self.refresh()
            except Exception as exc:
                log.warning("release watcher: cannot read the latest release: %s", exc)
            await asyncio.sleep(self._poll_interval)

    async def _listen(self) -> None:
        conninfo = self._db.url.set(drivername="postgresql").render_as_string(hide_password=False)
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    conninfo, autocommit=True
                ) as connection:
                    await connection.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    self.listening = True
                    # A release committed before LISTEN took effect sent its NOTIFY to no one.
                    await self.refresh()
                    async for _ in connection.notifies():
                        await self.refresh()
            except (psycopg.Error, OSError) as exc:
                log.warning(
                    "release watcher: LISTEN %s lost (%s); polling until it is back",
                    NOTIFY_CHANNEL,
                    exc,
                )
            finally:
                self.listening = False
            await asyncio.sleep(LISTEN_RETRY)

    # ------------------------------------------------------------ store and cache

    def _latest_version(self) -> int | None:
        with self._db.session() as session:
            return releases.latest_version(session)

    def _load(self, version: int) -> Release | None:
        with self._db.session() as session:
            return releases.get(session, version)

    def _put(self, release: CachedRelease) -> None:
        if self._cache.put(release):
            log.info("config sync: serving release v%d to nodes", release.version)
            if self._metrics is not None:
                self._metrics.snapshot_bytes.set(len(release.payload))
                self._metrics.release_version.set(release.version)

    def __repr__(self) -> str:
        how = "listen+poll" if self.listening else "poll"
        return f"<ReleaseWatcher {how} every {self._poll_interval:g}s cache={self._cache!r}>"
