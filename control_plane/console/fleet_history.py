"""The overview's charts: the fleet's requests/s, error rate and p99 over the last 15 minutes.

Nodes report their figures every few seconds and the store keeps only the last report
of each; every `INTERVAL` seconds this samples the store (the sum over the nodes heard
from recently) into a ring of `SAMPLES` points. A replica samples from its own start:
after a restart the charts fill up again over 15 minutes.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from ..plane import ControlPlane
from ..store.nodes import fleet_figures
from ..sync.inventory import utcnow

log = logging.getLogger(__name__)

INTERVAL = 5.0  # seconds between two samples, and between two refreshes of the page
SAMPLES = 180  # 15 minutes of them


@dataclass(frozen=True, slots=True)
class FleetSample:
    """The fleet at one moment: `t` in seconds since the epoch."""

    t: float
    requests_per_second: float
    error_rate: float  # 5xx share, 0..1
    p99_ms: float | None  # the slowest node's


class FleetHistory:
    """The last `capacity` samples, oldest first."""

    def __init__(self, capacity: int = SAMPLES, interval: float = INTERVAL) -> None:
        self.interval = interval
        self._samples: deque[FleetSample] = deque(maxlen=capacity)

    def __repr__(self) -> str:
        return f"<FleetHistory samples={len(self._samples)}/{self._samples.maxlen}>"

    def add(self, sample: FleetSample) -> None:
        self._samples.append(sample)

    def clear(self) -> None:
        self._samples.clear()

    def series(self) -> list[dict[str, Any]]:
        return [asdict(sample) for sample in self._samples]

    def sample(self, plane: ControlPlane, now: datetime) -> FleetSample:
        """The fleet's figures in the store now: nodes heard from within the offline time."""
        since = now - timedelta(seconds=plane.settings.node_offline_after)
        with plane.db.session() as session:
            requests, error_rate, p99 = fleet_figures(session, since)
        sample = FleetSample(now.timestamp(), requests, error_rate, p99)
        self.add(sample)
        return sample

    async def run(self, plane: ControlPlane) -> None:
        """Sample every `interval` seconds until cancelled; a failing store skips a sample."""
        self.clear()
        while True:
            # Sleep first: the first sample is one interval after the start, out of the
            # way of the release maker catching up.
            await asyncio.sleep(self.interval)
            try:
                await asyncio.to_thread(self.sample, plane, utcnow())
            except SQLAlchemyError as exc:
                log.warning("fleet figures not sampled: %s", exc)
