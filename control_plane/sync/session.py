"""What one node holds, what it was sent and what it refused: the push decisions.

A `NodeSession` does no I/O, in the manner of h11's state machines: the stream feeds it
releases and answers, it says what to send. The rules it keeps (DESIGN.md, config sync):
- push the latest release only, and nothing when the node already holds it;
- one push in flight at a time, so a node busy applying is never queued a backlog:
  when it answers, it is offered whatever is latest by then;
- a release the node rejected is never offered to it again.
During a rollout (rule 9) the same holds of the candidate, offered once the node holds
the active release, with the selector as it applies to this node's labels; a node the
selector leaves out, or one holding a candidate no rollout wants, is told to drop it.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from fleetgate_pb import sync_pb2 as pb

from control_plane.rollouts.selector import node_selector
from data_plane.sync.contract import SnapshotRef

from .cache import CachedRelease, CachedRollout, Slot

# What a node is told when its hello is accepted: a push follows; it already holds the
# latest release; it rejected the latest release (nothing follows: a restarted node
# then serves the last good snapshot of its own cache); or there is no release yet.
Outlook = Literal["push", "current", "rejected", "empty"]


def new_nonce() -> str:
    return secrets.token_hex(8)


@dataclass(frozen=True, slots=True)
class Push:
    """A release sent to a node, awaiting its ACK or NACK.

    A CANDIDATE push carries the selector; one without a release tells the node to drop
    its candidate.
    """

    nonce: str
    slot: Slot
    release: CachedRelease | None
    # False when the node was only catching up on connect: the commit -> ACK histogram
    # measures how fast a change spreads, not how long a node was away.
    live: bool
    selector: pb.CandidateSelector | None = None


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
    labels: dict[str, str] = field(default_factory=dict)
    candidate: SnapshotRef | None = None  # what the node serves beside `holds`

    def offer(
        self, release: CachedRelease | None, *, live: bool, rollout: CachedRollout | None = None
    ) -> Push | None:
        """The push to send for `release` and `rollout`, or None when the node needs
        nothing now."""
        if self.pending is not None:
            return None
        if release is not None:
            ref = release.ref
            if ref != self.holds and ref not in self.rejected:
                self.pending = Push(self.make_nonce(), Slot.ACTIVE, release, live)
                return self.pending
        self.pending = self._candidate_push(rollout, live)
        return self.pending

    def _candidate_push(self, rollout: CachedRollout | None, live: bool) -> Push | None:
        selector = None
        if rollout is not None and self.holds is not None:
            selector = node_selector(rollout.selector, self.labels)
        if rollout is not None and selector is not None:
            ref = rollout.candidate.ref
            if ref == self.candidate or ref in self.rejected or ref.hash == self.holds_hash:
                return None
            if rollout.promoted:
                return None  # its release is on the way: offered as the active one
            return Push(self.make_nonce(), Slot.CANDIDATE, rollout.candidate, live, selector)
        if self.candidate is None:
            return None
        if rollout is not None and rollout.promoted and rollout.candidate.ref == self.candidate:
            return None  # kept until the release that promotes it arrives
        return Push(self.make_nonce(), Slot.CANDIDATE, None, live)

    @property
    def holds_hash(self) -> str | None:
        return None if self.holds is None else self.holds.hash

    def connect(
        self, release: CachedRelease | None, rollout: CachedRollout | None = None
    ) -> tuple[Push | None, Outlook]:
        """The first push of a new stream, and what the node is told to expect."""
        push = self.offer(release, live=False, rollout=rollout)
        if push is not None and push.slot is Slot.ACTIVE:
            return push, "push"
        if release is None:
            return push, "empty"
        return push, "rejected" if release.ref in self.rejected else "current"

    def ack(self, nonce: str) -> Answer | None:
        """Record an ACK; None when the nonce is not the push in flight (a stale answer)."""
        push = self._take(nonce)
        if push is None:
            return None
        if push.slot is Slot.ACTIVE:
            assert push.release is not None
            self.holds = push.release.ref
            if self.candidate is not None and self.candidate.hash == self.holds.hash:
                self.candidate = None  # promoted: the node serves it as active now
        else:
            self.candidate = None if push.release is None else push.release.ref
        return Answer(push)

    def nack(self, nonce: str, error: str) -> Answer | None:
        """Record a NACK; the release is never offered to this node again."""
        push = self._take(nonce)
        if push is None:
            return None
        if push.release is None:
            self.candidate = None  # a drop cannot fail but by having nothing to drop
        else:
            self.rejected.add(push.release.ref)
        return Answer(push, error or "the node gave no reason")

    def reported(self, holds: SnapshotRef | None, candidate: SnapshotRef | None = None) -> None:
        """What a status report says the node serves, e.g. after starting from its cache."""
        if self.pending is None and holds is not None:
            self.holds = holds
            self.candidate = candidate

    def _take(self, nonce: str) -> Push | None:
        if self.pending is None or self.pending.nonce != nonce:
            return None
        push, self.pending = self.pending, None
        return push

    def __repr__(self) -> str:
        pending = ""
        if self.pending is not None:
            release = self.pending.release
            if release is None:
                pending = " pending=drop-candidate"
            elif self.pending.slot is Slot.CANDIDATE:
                pending = f" pending=candidate {release.ref}"
            else:
                pending = f" pending={release.ref}"
        rejected = len(self.rejected)
        return (
            f"<NodeSession {self.node_id} holds={self.holds} candidate={self.candidate}"
            f"{pending} rejected={rejected}>"
        )
