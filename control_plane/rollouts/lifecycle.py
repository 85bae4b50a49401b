"""Starting, promoting and rolling back a rollout: one checked transaction each.

Start takes the config lock, builds the candidate's Snapshot with the version it will
have as a release (the active release's plus one: while the rollout runs no other
change is committed, so no other release can take that version), checks it like any
release (the checks nodes run, and what the connected nodes can serve), and stores it
with the selector and gate. Promote writes the candidate's entities over the store in
the transaction that ends the rollout, so the release maker then releases exactly the
candidate's content. Rollback only ends the rollout: the store never changed. Every
step is in the audit log under the kind `rollouts`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fleetgate_pb import config_pb2 as pb

from data_plane.config.model import GatewayConfig
from data_plane.config.snapshot import build_snapshot
from data_plane.config.snapshot_config import snapshot_config
from data_plane.config.validate import check_snapshot

from ..errors import Conflict, FieldProblem, Invalid, InvalidConfig, NoRollout, RolloutInProgress
from ..store import audit, releases, rollouts
from ..store.catalog import Catalog
from ..store.db import lock_config
from ..store.rollouts import PROMOTED, ROLLED_BACK, RUNNING, RolloutRow
from .figures import empty_figures, figures_json
from .gate import judge
from .spec import RolloutRequest

AUDIT_KIND = "rollouts"


def rollout_json(row: RolloutRow) -> dict[str, Any]:
    """A rollout as the admin API answers it; a running gated one with the gate's
    verdict so far."""
    figures = figures_json(row.figures)
    verdict = None
    if row.state == RUNNING and row.gate is not None:
        elapsed = (datetime.now(UTC) - row.started_at).total_seconds()
        verdict = str(judge(row.gate, figures, elapsed))
    return {
        "id": row.id,
        "state": row.state,
        "active_version": row.active_version,
        "candidate_version": row.candidate_version,
        "candidate_hash": row.candidate_hash,
        "source": row.source,
        "selector": row.selector,
        "gate": row.gate,
        "started_at": row.started_at.isoformat(),
        "started_by": row.started_by,
        "ended_at": None if row.ended_at is None else row.ended_at.isoformat(),
        "ended_by": row.ended_by,
        "reason": row.reason,
        "figures": figures,
        "verdict": verdict,
    }


def candidate_config(row: RolloutRow) -> GatewayConfig:
    return snapshot_config(pb.Snapshot.FromString(row.candidate))


class Rollouts:
    """The rollout steps, within the session and on behalf of the actor of `catalog`."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.session = catalog.session

    def __repr__(self) -> str:
        return f"<Rollouts actor={self.catalog.actor!r}>"

    def start(self, request: RolloutRequest) -> RolloutRow:
        lock_config(self.session)
        running = rollouts.running(self.session)
        if running is not None:
            raise RolloutInProgress(f"rollout {running.id} is running already")
        active = releases.latest(self.session)
        if active is None:
            raise Conflict("no active config to roll out beside: apply a config first")
        if build_snapshot(self.catalog.config()).hash != active.hash:
            raise Conflict("the latest changes are not released yet: try again in a second")
        field, config = self._candidate(request)
        now = datetime.now(UTC)
        snapshot = build_snapshot(
            config,
            version=active.version + 1,
            created_at_ms=int(now.timestamp() * 1000),
            author=self.catalog.actor,
        )
        if snapshot.hash == active.hash:
            raise Invalid.of(
                [FieldProblem(field, f"equals the active config (release {active.version})")]
            )
        self._check(field, snapshot)
        row = RolloutRow(
            state=RUNNING,
            active_version=active.version,
            candidate_version=snapshot.version,
            candidate_hash=snapshot.hash,
            candidate=snapshot.SerializeToString(deterministic=True),
            source=request.source(),
            selector=request.selector.model_dump(exclude_none=True),
            gate=None if request.gate is None else request.gate.model_dump(),
            figures=empty_figures(),
            started_at=now,
            started_by=self.catalog.actor,
        )
        self.session.add(row)
        self.session.flush()
        self._audit("start", row, None, now)
        releases.notify(self.session, "rollout")  # other replicas tell their nodes at once
        self.session.commit()
        return row

    def promote(self, reason: str | None = None) -> RolloutRow:
        row = self._running()
        before = rollout_json(row)

        def ended(now: datetime) -> None:
            self._end(row, PROMOTED, now, reason or f"promoted by {self.catalog.actor}")
            self._audit("promote", row, before, now)

        self.catalog.promote(candidate_config(row), ended)
        return row

    def rollback(self, reason: str | None = None) -> RolloutRow:
        row = self._running()
        before = rollout_json(row)
        now = datetime.now(UTC)
        self._end(row, ROLLED_BACK, now, reason or f"rolled back by {self.catalog.actor}")
        self._audit("rollback", row, before, now)
        releases.notify(self.session, "rollout")
        self.session.commit()
        if self.catalog.on_commit is not None:
            # Nothing in the store changed; the maker looks again and releases nothing.
            self.catalog.on_commit(self.catalog.actor)
        return row

    # ---------------------------------------------------------------- steps

    def _candidate(self, request: RolloutRequest) -> tuple[str, GatewayConfig]:
        if request.config is not None:
            return "config", request.config
        assert request.release is not None
        release = releases.get(self.session, request.release)
        if release is None:
            raise Invalid.of([FieldProblem("release", f"no release {request.release}")])
        return "release", snapshot_config(release.message())

    def _check(self, field: str, snapshot: pb.Snapshot) -> None:
        problems = check_snapshot(snapshot)
        if self.catalog.admit is not None:
            problems += self.catalog.admit(snapshot)
        if problems:
            raise InvalidConfig.of(
                [
                    FieldProblem(f"{field}.{p.field}" if p.field else field, p.message)
                    for p in problems
                ]
            )

    def _running(self) -> RolloutRow:
        lock_config(self.session)
        row = rollouts.running(self.session)
        if row is None:
            raise NoRollout("no rollout is running")
        return row

    def _end(self, row: RolloutRow, state: str, now: datetime, reason: str) -> None:
        row.state = state
        row.ended_at = now
        row.ended_by = self.catalog.actor
        row.reason = reason

    def _audit(
        self, action: str, row: RolloutRow, before: dict[str, Any] | None, at: datetime
    ) -> None:
        audit.record(
            self.session,
            at=at,
            actor=self.catalog.actor,
            action=action,
            kind=AUDIT_KIND,
            name=str(row.id),
            before=before,
            after=rollout_json(row),
            request_id=self.catalog.request_id,
        )
