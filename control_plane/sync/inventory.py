"""The node inventory: what every node said, kept in SQL for all replicas to read.

The config-sync service reports hellos, ACKs, NACKs and status reports here as they
arrive. They update an in-memory record per node connected to this replica, and a
flush loop writes the changed records in one transaction shortly after, so a burst of
100 ACKs costs one write, not 100. Each write only lands if it is no older than the
row (`last_seen`), so a node that moved to another replica is never rolled back by a
late flush from the one it left. Statuses are derived when read (`node_status`), and
nodes silent for `offline_after + purge_after` seconds are deleted.

While a rollout runs, each report's figures are added to its side (the active or the
candidate slot) and written to the rollout with the next flush, adding to what other
replicas wrote: the rollout's `figures` sum the reports of every node.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from fleetgate_pb import sync_pb2 as pb

from control_plane.rollouts.figures import add_figures
from control_plane.store.db import Database
from control_plane.store.nodes import NodeRow, purge_nodes, save_nodes
from control_plane.store.rollouts import RUNNING, RolloutRow
from data_plane.sync.contract import SnapshotRef

log = logging.getLogger("fleetgate.sync")

NodeStatusName = Literal["SYNCED", "STALE", "NACKED", "OFFLINE"]
FLUSH_INTERVAL = 0.2  # seconds between two writes of the same burst of reports
PURGE_EVERY = 60.0
# The most requests one report may add to a rollout's figures (a node serves far fewer
# in its few seconds between reports): a runaway counter cannot swamp the gate.
MAX_REPORTED_REQUESTS = 10_000_000


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class NodeRecord:
    """What one node connected here said last: the columns of its `nodes` row."""

    id: str
    labels: dict[str, Any]
    address: str
    peer: str
    software_version: str
    schema_version: int
    capabilities: list[str]
    first_seen: datetime
    last_seen: datetime
    applied_version: int | None = None
    applied_hash: str | None = None
    apply_seconds: float | None = None
    rejected_version: int | None = None
    rejected_hash: str | None = None
    last_error: str | None = None
    request_rate: float | None = None
    error_rate: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    open_connections: int | None = None
    targets: list[dict[str, Any]] | None = None  # health and breaker state, last reported
    # During a rollout: the candidate it serves, or the one it refused (with the reason).
    candidate_version: int | None = None
    candidate_hash: str | None = None
    candidate_error: str | None = None

    @classmethod
    def from_hello(cls, hello: pb.Hello, peer: str, now: datetime) -> NodeRecord:
        holds = hello.active.version != 0 or bool(hello.active.hash)
        return cls(
            id=hello.node_id,
            labels=dict(hello.labels),
            address=hello.address[:300],
            peer=peer[:300],
            software_version=hello.software_version[:64],
            schema_version=hello.schema_version,
            capabilities=sorted(hello.capabilities),
            first_seen=now,
            last_seen=now,
            applied_version=hello.active.version if holds else None,
            applied_hash=hello.active.hash if holds else None,
        )

    def columns(self) -> dict[str, Any]:
        """The record as its row's columns.

        A shallow copy: `dataclasses.asdict` deep-copied every label and capability of
        every node on each flush, half the inventory's writing time at 2,000 nodes. The
        record never changes its labels or capabilities in place (a hello makes new ones).
        """
        return {name: getattr(self, name) for name in _COLUMNS}


_COLUMNS = tuple(spec.name for spec in dataclasses.fields(NodeRecord))


def node_status(
    row: NodeRow | NodeRecord,
    latest: SnapshotRef | None,
    now: datetime,
    offline_after: float,
) -> NodeStatusName:
    """A node's status from its facts, the latest release and the clock."""
    if (now - row.last_seen).total_seconds() > offline_after:
        return "OFFLINE"
    if latest is None:
        return "SYNCED"  # no release yet: there is nothing to be behind on
    if row.rejected_version == latest.version and row.rejected_hash == latest.hash:
        return "NACKED"
    if row.applied_version == latest.version and row.applied_hash == latest.hash:
        return "SYNCED"
    return "STALE"


class NodeInventory:
    """Implements the service's `Inventory` on the store, with batched writes."""

    def __init__(
        self,
        db: Database,
        *,
        offline_after: float,
        purge_after: float,
        clock: Callable[[], datetime] = utcnow,
        flush_interval: float = FLUSH_INTERVAL,
        purge_every: float = PURGE_EVERY,
        rollout: Callable[[], int | None] = lambda: None,
    ) -> None:
        self._db = db
        self.offline_after = offline_after
        self.purge_after = purge_after
        self._clock = clock
        self._flush_interval = flush_interval
        self._purge_every = purge_every
        # Per-node state of this replica
        self._records: dict[str, NodeRecord] = {}
        self._streams: Counter[str] = Counter()  # a node may briefly hold two streams
        self._dirty: set[str] = set()
        self._wake = asyncio.Event()
        self._rollout = rollout  # the id of the rollout running now, if any
        # rollout id -> side -> [requests, 5xx answers, p99 x requests] not yet written
        self._figures: dict[int, dict[str, list[float]]] = {}

    # ------------------------------------------------------------ what the service reports

    async def connected(self, hello: pb.Hello, peer: str) -> set[SnapshotRef]:
        record = NodeRecord.from_hello(hello, peer, self._clock())
        rejected = await asyncio.to_thread(self._connect, record)
        self._records[record.id] = record
        self._streams[record.id] += 1
        return rejected

    def acked(self, node_id: str, ref: SnapshotRef, apply_seconds: float) -> None:
        record = self._heard(node_id)
        if record is not None:
            record.applied_version, record.applied_hash = ref.version, ref.hash
            record.apply_seconds = apply_seconds

    def nacked(self, node_id: str, ref: SnapshotRef, error: str) -> None:
        record = self._heard(node_id)
        if record is not None:
            record.rejected_version, record.rejected_hash = ref.version, ref.hash
            record.last_error = f"v{ref.version}: {error}"[:4000]

    def candidate_acked(self, node_id: str, ref: SnapshotRef | None) -> None:
        record = self._heard(node_id)
        if record is not None:
            record.candidate_version = None if ref is None else ref.version
            record.candidate_hash = None if ref is None else ref.hash
            record.candidate_error = None

    def candidate_nacked(self, node_id: str, ref: SnapshotRef, error: str) -> None:
        record = self._heard(node_id)
        if record is not None:
            record.candidate_version, record.candidate_hash = ref.version, ref.hash
            record.candidate_error = error[:4000] or "the node gave no reason"

    def reported(self, node_id: str, status: pb.NodeStatus) -> None:
        record = self._heard(node_id)
        if record is None:
            return
        record.open_connections = status.open_connections
        record.targets = [
            {
                "service": target.service,
                "address": target.address,
                "healthy": target.healthy,
                "breaker": target.breaker or None,
            }
            for target in status.targets
        ]
        self._count(status)
        candidate = next((s for s in status.slots if s.slot == pb.CANDIDATE), None)
        if candidate is not None and candidate.snapshot.hash:
            record.candidate_version = candidate.snapshot.version
            record.candidate_hash = candidate.snapshot.hash
            record.candidate_error = None
        elif record.candidate_error is None:
            record.candidate_version = record.candidate_hash = None
        for slot in status.slots:
            if slot.slot == pb.ACTIVE:
                if slot.HasField("snapshot") and slot.snapshot.hash:
                    # What it serves, ACKed or not: a node may start from its disk cache.
                    record.applied_version = slot.snapshot.version
                    record.applied_hash = slot.snapshot.hash
                record.request_rate = slot.request_rate
                record.error_rate = slot.error_rate
                record.p50_ms = slot.p50_ms
                record.p99_ms = slot.p99_ms

    def _count(self, status: pb.NodeStatus) -> None:
        rollout_id = self._rollout()
        if rollout_id is None:
            return
        sides = self._figures.setdefault(rollout_id, {})
        for slot in status.slots:
            requests = min(slot.requests, MAX_REPORTED_REQUESTS)
            if not requests:
                continue
            side = sides.setdefault(
                "candidate" if slot.slot == pb.CANDIDATE else "active", [0, 0, 0.0]
            )
            side[0] += requests
            side[1] += round(min(max(slot.error_rate, 0.0), 1.0) * requests)
            side[2] += min(max(slot.p99_ms, 0.0), 3_600_000.0) * requests

    def disconnected(self, node_id: str) -> None:
        self._streams[node_id] -= 1
        if self._streams[node_id] <= 0:
            del self._streams[node_id]
            self._heard(node_id)  # the last word: when it was last heard here
            # The record stays until flushed; the flush drops records without a stream.

    def _heard(self, node_id: str) -> NodeRecord | None:
        record = self._records.get(node_id)
        if record is None:
            return None
        record.last_seen = self._clock()
        self._dirty.add(node_id)
        self._wake.set()
        return record

    # ------------------------------------------------------------ writing

    async def run(self) -> None:
        """Flush changes as they come (batched), purge forgotten nodes every `purge_every`.

        The purge keeps its own schedule: connected nodes report every few seconds, so
        waiting for a quiet spell would never purge while any node is connected.
        """
        loop = asyncio.get_running_loop()
        purge_at = loop.time() + self._purge_every
        try:
            while True:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout_at(purge_at):
                        await self._wake.wait()
                if self._wake.is_set():
                    # Let the burst gather first: the ACKs of one release are written in
                    # one transaction after the last of them, not the first alone while
                    # the release is still being pushed (the write's thread takes the
                    # GIL from the streams).
                    await asyncio.sleep(self._flush_interval)
                    self._wake.clear()
                    await self.flush()
                if loop.time() >= purge_at:
                    try:
                        await asyncio.to_thread(self.purge)
                    except Exception:
                        log.exception("node inventory: cannot purge forgotten nodes; trying later")
                    purge_at = loop.time() + self._purge_every
        finally:
            await self.flush()

    async def flush(self) -> None:
        """Write every changed record now, and the rollout's figures."""
        if self._figures:
            figures, self._figures = self._figures, {}
            try:
                await asyncio.to_thread(self._save_figures, figures)
            except Exception:
                log.exception("node inventory: cannot add to the rollout's figures; dropped")
        if not self._dirty:
            return
        dirty, self._dirty = self._dirty, set()
        # The columns as they are now, for the writing thread: the records change on.
        batch = [self._records[node_id].columns() for node_id in dirty]
        gone = [self._records.pop(i) for i in dirty if i not in self._streams]
        try:
            await asyncio.to_thread(self._save, batch)
        except Exception:
            log.exception("node inventory: cannot write %d node(s) at once", len(batch))
            failed = await asyncio.to_thread(self._save_each, batch)
            if len(failed) < len(batch):
                # The store works: what it refuses alone is the record's fault, and
                # retrying it would hold back every report after it, forever.
                for columns in failed:
                    log.error("node inventory: dropped what node %r said last", columns["id"])
                return
            log.error("node inventory: the store refuses every write; retrying later")
            for record in gone:
                self._records.setdefault(record.id, record)
            self._dirty |= dirty

    def _save_each(self, batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Write the records one by one; returns those the store refused."""
        failed = []
        for columns in batch:
            try:
                self._save([columns])
            except Exception:
                failed.append(columns)
        return failed

    def purge(self) -> int:
        """Delete nodes not heard of for `offline_after + purge_after` seconds."""
        horizon = self._clock() - timedelta(seconds=self.offline_after + self.purge_after)
        with self._db.session() as session:
            purged = purge_nodes(session, horizon)
            session.commit()
        if purged:
            log.info("node inventory: forgot %d node(s) offline for %g s", purged, self.purge_after)
        return purged

    def _connect(self, record: NodeRecord) -> set[SnapshotRef]:
        """Upsert a node's row at hello time; returns what it rejected before."""
        with self._db.session() as session:
            row = session.get(NodeRow, record.id)
            rejected: set[SnapshotRef] = set()
            if row is None:
                session.add(NodeRow(**record.columns()))
            else:
                # What a node learnt elsewhere survives its move to this replica.
                record.first_seen = row.first_seen
                record.last_error = row.last_error
                # A refusal binds the software that made it: a node upgraded since (new
                # version or capabilities) is offered the release it once refused.
                same_software = (row.software_version, sorted(row.capabilities)) == (
                    record.software_version,
                    record.capabilities,
                )
                if same_software and row.rejected_version is not None and row.rejected_hash:
                    rejected.add(SnapshotRef(row.rejected_version, row.rejected_hash))
                    record.rejected_version = row.rejected_version
                    record.rejected_hash = row.rejected_hash
                refused_candidate = row.candidate_error and row.candidate_hash
                if same_software and refused_candidate and row.candidate_version is not None:
                    rejected.add(SnapshotRef(row.candidate_version, row.candidate_hash or ""))
                    record.candidate_version = row.candidate_version
                    record.candidate_hash = row.candidate_hash
                    record.candidate_error = row.candidate_error
                for name, value in record.columns().items():
                    setattr(row, name, value)
            session.commit()
        return rejected

    def _save_figures(self, figures: dict[int, dict[str, list[float]]]) -> None:
        for rollout_id, sides in figures.items():
            with self._db.session() as session:
                row = session.get(RolloutRow, rollout_id, with_for_update=True)
                if row is not None and row.state == RUNNING:
                    row.figures = add_figures(row.figures, sides)
                    session.commit()

    def _save(self, batch: list[dict[str, Any]]) -> None:
        with self._db.session() as session:
            save_nodes(session, batch)
            session.commit()

    def __repr__(self) -> str:
        return (
            f"<NodeInventory connected={len(self._streams)} records={len(self._records)}"
            f" dirty={len(self._dirty)}>"
        )
