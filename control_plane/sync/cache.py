"""The snapshot cache: the latest release of each slot, serialized once, awaitable.

As in go-control-plane's snapshot cache, this knows nothing of gRPC or of SQL. The
release watcher puts releases in; every config-sync stream reads the same `payload`
bytes out, so a release is serialized once however many nodes it is sent to. Only
the latest release is kept: a node that was away gets the newest config, never the
backlog it missed.

The cache lives on one event loop; code on other threads hands releases over with
`loop.call_soon_threadsafe(cache.put, release)`.
"""

from __future__ import annotations

import asyncio
import enum
from dataclasses import dataclass, field
from typing import Any

from data_plane.sync.contract import SnapshotRef


class Slot(enum.Enum):
    """Which snapshot of a node a release is for; CANDIDATE serves blue/green rollouts."""

    ACTIVE = "active"
    CANDIDATE = "candidate"


@dataclass(frozen=True, slots=True)
class CachedRelease:
    """One release as the streams send it."""

    version: int
    hash: str
    payload: bytes = field(repr=False)  # the serialized fleetgate.v1.Snapshot
    committed_at: float  # epoch seconds of the commit that made the release

    @property
    def ref(self) -> SnapshotRef:
        return SnapshotRef(self.version, self.hash)

    def __repr__(self) -> str:
        return f"<CachedRelease v{self.version} {self.hash[:12]} {len(self.payload)} bytes>"


@dataclass(frozen=True, slots=True)
class CachedRollout:
    """The rollout nodes are told of: its candidate and the selector as the API took it.

    A promoted rollout stays until the release holding its candidate is in the cache,
    so that nodes go from candidate to active without dropping it in between.
    """

    id: int
    candidate: CachedRelease
    selector: dict[str, Any] = field(compare=False)
    promoted: bool = False

    def __repr__(self) -> str:
        state = "promoted" if self.promoted else "running"
        return f"<CachedRollout {self.id} {state} candidate=v{self.candidate.version}>"


class SnapshotCache:
    """The latest release per slot, and a way to await one newer than a given version."""

    def __init__(self) -> None:
        self._latest: dict[Slot, CachedRelease] = {}
        self._rollout: CachedRollout | None = None
        self.generation = 0  # counts changes, release or rollout
        # Replaced on every change: waiters hold the old event, which is set once.
        self._changed = asyncio.Event()

    def latest(self, slot: Slot = Slot.ACTIVE) -> CachedRelease | None:
        return self._latest.get(slot)

    def put(self, release: CachedRelease, slot: Slot = Slot.ACTIVE) -> bool:
        """Make `release` the latest of `slot`; False (and no change) unless it is newer.

        Notifications, polling and the in-process hook may all report the same release,
        in any order: only a strictly higher version moves the cache forward.
        """
        current = self._latest.get(slot)
        if current is not None and release.version <= current.version:
            return False
        self._latest[slot] = release
        self._notify()
        return True

    @property
    def rollout(self) -> CachedRollout | None:
        return self._rollout

    def set_rollout(self, rollout: CachedRollout | None) -> bool:
        """Make `rollout` the one nodes are told of (None: none runs); False if unchanged."""
        if rollout == self._rollout:
            return False
        self._rollout = rollout
        self._notify()
        return True

    async def wait_change(self, generation: int) -> int:
        """Return the generation once it is past `generation`."""
        while self.generation <= generation:
            await self._changed.wait()
        return self.generation

    def _notify(self) -> None:
        self.generation += 1
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def wait_newer(self, version: int, slot: Slot = Slot.ACTIVE) -> CachedRelease:
        """The latest release of `slot` once its version is above `version`."""
        while True:
            release = self._latest.get(slot)
            if release is not None and release.version > version:
                return release
            await self._changed.wait()

    def __repr__(self) -> str:
        held = ", ".join(f"{slot.value}=v{r.version}" for slot, r in self._latest.items())
        rollout = "" if self._rollout is None else f" {self._rollout!r}"
        return f"<SnapshotCache {held or 'empty'}{rollout}>"
