"""What one node holds, what it was sent and what it refused: the push decisions.

A `NodeSession` does no I/O, in the manner of h11's state machines: the stream feeds it
releases and answers, it says what to send. The rules it keeps (DESIGN.md, config sync):
- push the latest release only, and nothing when the node already holds it;
- one push in flight at a time, so a node busy applying is never queued a backlog:
  when it answers, it is offered whatever is latest by then;
- a release the node rejected is never offered to it again.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from data_plane.sync.contract import SnapshotRef

from .cache import CachedRelease, Slot

# What a node is told when its hello is accepted: a push follows; it already holds the
# latest release; it rejected the latest release (nothing follows: a restarted node
# then serves the last good snapshot of its own cache); or there is no release yet.
Outlook = Literal["push", "current", "rejected", "empty"]


def new_nonce() -> str:
    return secrets.token_hex(8)


@dataclass(frozen=True, slots=True)
class Push:
    """A release sent to a node, awaiting its ACK or NACK."""

    nonce: str
    slot: Slot
    release: CachedRelease
    # False when the node was only catching up on connect: the commit -> ACK histogram
    # measures how fast a change spreads, not how long a node was away.
    live: bool


@dataclass(frozen=True, slots=True)
class Answer:
    """A node's verdict on a push: `error` is None for an ACK."""

    push: Push
    error: str | None = None


@dataclass(slots=True)
class NodeSession:
    node_id: str
    holds: SnapshotRef | None = None
    rejected: set[SnapshotRef] = field(default_factory=set)
    pending: Push | None = None
    make_nonce: Callable[[], str] = new_nonce

    def offer(self, release: CachedRelease | None, *, live: bool) -> Push | None:
        """The push to send for `release`, or None when the node needs nothing now."""
        if release is None or self.pending is not None:
            return None
        ref = release.ref
        if ref == self.holds or ref in self.rejected:
            return None
        self.pending = Push(self.make_nonce(), Slot.ACTIVE, release, live)
        return self.pending

    def connect(self, release: CachedRelease | None) -> tuple[Push | None, Outlook]:
        """The first push of a new stream, and what the node is told to expect."""
        push = self.offer(release, live=False)
        if push is not None:
            return push, "push"
        if release is None:
            return None, "empty"
        return None, "rejected" if release.ref in self.rejected else "current"

    def ack(self, nonce: str) -> Answer | None:
        """Record an ACK; None when the nonce is not the push in flight (a stale answer)."""
        push = self._take(nonce)
        if push is None:
            return None
        self.holds = push.release.ref
        return Answer(push)

    def nack(self, nonce: str, error: str) -> Answer | None:
        """Record a NACK; the release is never offered to this node again."""
        push = self._take(nonce)
        if push is None:
            return None
        self.rejected.add(push.release.ref)
        return Answer(push, error or "the node gave no reason")

    def reported(self, holds: SnapshotRef | None) -> None:
        """What a status report says the node serves, e.g. after starting from its cache."""
        if self.pending is None and holds is not None:
            self.holds = holds

    def _take(self, nonce: str) -> Push | None:
        if self.pending is None or self.pending.nonce != nonce:
            return None
        push, self.pending = self.pending, None
        return push

    def __repr__(self) -> str:
        pending = f" pending={self.pending.release.ref}" if self.pending else ""
        rejected = len(self.rejected)
        return f"<NodeSession {self.node_id} holds={self.holds}{pending} rejected={rejected}>"
