"""Keeps the snapshot cache on the store's latest release, whichever replica made it.

Three ways to hear of a release, fastest first: the in-process hook of this replica's
release maker (`release_made`); PostgreSQL LISTEN on `fleetgate_releases`, which the
release maker NOTIFYs in the release's own transaction, so a change made through
replica A reaches the nodes of replica B at once; and polling the latest version
every second, which is all SQLite has and which covers a dropped LISTEN connection.
All three may report the same release; the cache keeps the newest.

Each refresh also reads the rollout, if one runs: its candidate and selector go into
the cache for the streams to offer (a promoted one stays until its release is there).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import psycopg
from sqlalchemy import select

from control_plane.store import releases
from control_plane.store.db import Database
from control_plane.store.releases import NOTIFY_CHANNEL, Release
from control_plane.store.rollouts import PROMOTED, RUNNING, RolloutRow

from .cache import CachedRelease, CachedRollout, SnapshotCache
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
        """Load the latest release from the store if the cache is behind it, and the
        rollout nodes should know of."""
        version = await asyncio.to_thread(self._latest_version)
        current = self._cache.latest()
        if version is not None and (current is None or version > current.version):
            release = await asyncio.to_thread(self._load, version)
            if release is not None:
                self._put(cached(release))
        await self._refresh_rollout()

    async def _refresh_rollout(self) -> None:
        head = await asyncio.to_thread(self._rollout_head)
        rollout = None
        if head is not None:
            rollout_id, state, candidate_version = head
            active = self._cache.latest()
            caught_up = active is not None and active.version >= candidate_version
            if state == RUNNING or (state == PROMOTED and not caught_up):
                held = self._cache.rollout
                if held is not None and held.id == rollout_id:
                    rollout = CachedRollout(
                        held.id, held.candidate, held.selector, promoted=state == PROMOTED
                    )
                else:
                    rollout = await asyncio.to_thread(self._load_rollout, rollout_id)
                    if rollout is not None and state == PROMOTED:
                        rollout = CachedRollout(
                            rollout.id, rollout.candidate, rollout.selector, promoted=True
                        )
        if self._cache.set_rollout(rollout):
            log.info("config sync: rollout now %r", rollout)

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

    def _rollout_head(self) -> tuple[int, str, int] | None:
        """The last rollout's id, state and candidate version, without its candidate."""
        with self._db.session() as session:
            row = session.execute(
                select(RolloutRow.id, RolloutRow.state, RolloutRow.candidate_version)
                .order_by(RolloutRow.id.desc())
                .limit(1)
            ).first()
        return None if row is None else (row.id, row.state, row.candidate_version)

    def _load_rollout(self, rollout_id: int) -> CachedRollout | None:
        with self._db.session() as session:
            row = session.get(RolloutRow, rollout_id)
            if row is None:
                return None
            candidate = CachedRelease(
                row.candidate_version,
                row.candidate_hash,
                row.candidate,
                row.started_at.timestamp(),
            )
            selector: dict[str, Any] = dict(row.selector)
            return CachedRollout(row.id, candidate, selector)

    def _put(self, release: CachedRelease) -> None:
        if self._cache.put(release):
            log.info("config sync: serving release v%d to nodes", release.version)
            if self._metrics is not None:
                self._metrics.snapshot_bytes.set(len(release.payload))
                self._metrics.release_version.set(release.version)

    def __repr__(self) -> str:
        how = "listen+poll" if self.listening else "poll"
        return f"<ReleaseWatcher {how} every {self._poll_interval:g}s cache={self._cache!r}>"
