"""The replica that decides gated rollouts: elected through the database, one at a time.

Every second each replica tries to take or renew the `rollout-gate` lease; the one that
holds it reads the running rollout and, when it has a gate, judges it (gate.py) and
promotes or rolls it back, writing the reason. The others only wait: two replicas never
both act on a rollout. A replica that stops renewing loses the lease after `LEASE_TTL`
seconds, and another takes over; a breach is acted on within a few seconds of the
figures that show it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable
from datetime import UTC, datetime

from ..plane import ControlPlane
from ..store import rollouts
from ..store.catalog import Catalog
from ..store.leases import acquire
from .figures import figures_json
from .gate import Verdict, judge
from .lifecycle import Rollouts

log = logging.getLogger("fleetgate.rollouts")

LEASE = "rollout-gate"
LEASE_TTL = 10.0  # seconds
INTERVAL = 1.0  # seconds between two looks
ACTOR = "gate"


def replica_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:128]


class GateDecider:
    def __init__(
        self,
        plane: ControlPlane,
        *,
        holder: str | None = None,
        interval: float = INTERVAL,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.plane = plane
        self.holder = holder or replica_name()
        self.interval = interval
        self.clock = clock
        self.leading = False

    def __repr__(self) -> str:
        return f"<GateDecider {self.holder} leading={self.leading}>"

    async def run(self) -> None:
        while True:
            try:
                acted = await asyncio.to_thread(self.step)
            except Exception:
                log.exception("rollout gate: a decision failed; trying again")
                acted = None
            if acted is not None:
                self.plane.rollout_changed()
                self.plane.releases.changed(ACTOR)
            await asyncio.sleep(self.interval)

    def step(self) -> Verdict | None:
        """Renew the lease and, holding it, judge the running rollout; returns the
        verdict it acted on, if any."""
        db = self.plane.db
        now = self.clock()
        with db.session() as session:
            row = rollouts.running(session)
            if row is None or row.gate is None:
                return None  # nothing to decide: no lease taken, nothing written
            leading = acquire(session, LEASE, self.holder, now, LEASE_TTL)
        if leading != self.leading:
            log.info("rollout gate: %s", "deciding here" if leading else "another replica decides")
            self.leading = leading
        if not leading:
            return None
        with db.session() as session:
            row = rollouts.running(session)
            if row is None or row.gate is None:
                return None
            elapsed = (now - row.started_at).total_seconds()
            verdict = judge(row.gate, figures_json(row.figures), elapsed)
            if verdict.action == "wait":
                return None
            steps = Rollouts(Catalog(session, actor=ACTOR))
            if verdict.action == "promote":
                steps.promote(reason=f"gate: {verdict.reason}")
            else:
                steps.rollback(reason=f"gate: {verdict.reason}")
        log.warning("rollout gate: rollout %d %s", row.id, verdict)
        return verdict
