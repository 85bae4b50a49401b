"""Releases in SQL: reading them, and storing the next one when the config changed.

A release is the Snapshot of everything stored, serialized once with its version,
hash, creation time and author set, exactly as nodes receive it. Versions are the
previous one plus one; replicas sharing a PostgreSQL serialize on the config lock, and
the primary key catches any race left (the loser retries). On PostgreSQL the new
version is announced with NOTIFY in the same transaction, so listeners hear of it
only once it is committed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from fleetgate_pb import config_pb2 as pb
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, defer

from data_plane.config.model import ENTITY_KINDS
from data_plane.config.snapshot import build_snapshot
from data_plane.config.validate import raise_if_invalid
from data_plane.sync.contract import SnapshotRef

from . import audit
from .db import Database, lock_config
from .entity_rows import load_config
from .models import ReleaseRow
from .rollouts import running

log = logging.getLogger(__name__)

NOTIFY_CHANNEL = "fleetgate_releases"
# Attempts at a version before giving up; a collision needs another writer in between.
MAX_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class Release:
    """One immutable release, detached from any session."""

    version: int
    hash: str
    snapshot: bytes  # a serialized fleetgate.v1.Snapshot
    created_at: datetime
    author: str

    @classmethod
    def of(cls, row: ReleaseRow) -> Release:
        return cls(row.version, row.hash, row.snapshot, row.created_at, row.author)

    def message(self) -> pb.Snapshot:
        return pb.Snapshot.FromString(self.snapshot)

    def __repr__(self) -> str:
        return f"<Release v{self.version} {self.hash[:12]} by {self.author}>"


def latest(session: Session) -> Release | None:
    row = session.scalars(select(ReleaseRow).order_by(ReleaseRow.version.desc()).limit(1)).first()
    return None if row is None else Release.of(row)


def latest_version(session: Session) -> int | None:
    return session.scalar(select(func.max(ReleaseRow.version)))


def get(session: Session, version: int) -> Release | None:
    row = session.get(ReleaseRow, version)
    return None if row is None else Release.of(row)


def page(session: Session, *, limit: int = 100, offset: int = 0) -> tuple[list[ReleaseRow], int]:
    """Releases newest first, without their snapshot bytes, with the total count."""
    total = session.scalar(select(func.count()).select_from(ReleaseRow)) or 0
    query = (
        select(ReleaseRow)
        .options(defer(ReleaseRow.snapshot))
        .order_by(ReleaseRow.version.desc())
        .offset(offset)
        .limit(limit)
    )
    return list(session.scalars(query)), total


def make_release(db: Database, *, author: str) -> Release | None:
    """Store a release of the current config, unless it equals the latest one.

    Returns the new release, or None when nothing changed (or nothing was ever stored:
    an empty store has no release, so nodes stay not-ready until there is config).
    The release's author is read with the config it holds, from the audit log: the
    actor of the newest change written since the previous release. `author` stands in
    when there is none (a store written behind the API's back). Who asked for the
    release cannot say: a change committed after the ask is in the release too.
    """
    for attempt in range(1, MAX_ATTEMPTS + 1):
        with db.session() as session:
            try:
                release = _store_next(session, author)
                session.commit()
                return release
            except IntegrityError:
                # Another replica took this version between our read and our insert.
                session.rollback()
                log.info("release version taken by another writer (attempt %d)", attempt)
    raise RuntimeError(f"could not allocate a release version in {MAX_ATTEMPTS} attempts")


def _store_next(session: Session, author: str) -> Release | None:
    lock_config(session)
    if running(session) is not None:
        # Nothing is committed while a rollout runs; its candidate holds the next version.
        return None
    config = load_config(session)
    previous = latest(session)
    author = audit.last_actor(session, None if previous is None else previous.created_at) or author
    now = datetime.now(UTC)
    version = 1 if previous is None else previous.version + 1
    snapshot = build_snapshot(
        config, version=version, created_at_ms=int(now.timestamp() * 1000), author=author
    )
    if previous is None and not any(getattr(config, kind) for kind in ENTITY_KINDS):
        return None
    if previous is not None and previous.hash == snapshot.hash:
        return None
    # Every change was checked before it was committed; a failure here means the store
    # was edited behind the API's back, and such a config must not reach the nodes.
    raise_if_invalid(snapshot)
    row = ReleaseRow(
        version=version,
        hash=snapshot.hash,
        snapshot=snapshot.SerializeToString(deterministic=True),
        created_at=now,
        author=author,
    )
    session.add(row)
    session.flush()
    notify(session, str(version))
    return Release.of(row)


def notify(session: Session, what: str) -> None:
    """On PostgreSQL, tell every replica's watcher of `what` (a release version, or
    "rollout") once the session's transaction commits."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_notify(:channel, :what)"), {"channel": NOTIFY_CHANNEL, "what": what}
        )


def latest_ref(session: Session) -> SnapshotRef | None:
    """The version and hash of the latest release, without loading its snapshot."""
    row = session.execute(
        select(ReleaseRow.version, ReleaseRow.hash).order_by(ReleaseRow.version.desc()).limit(1)
    ).first()
    return None if row is None else SnapshotRef(row.version, row.hash)
