"""NodeSession during a rollout: when a node is sent the candidate, told to drop it, or
left alone while its promotion arrives as the active release (no I/O)."""

from __future__ import annotations

import itertools
from typing import Any

from control_plane.sync.cache import CachedRollout, Slot
from control_plane.sync.session import NodeSession

from .harness import release

ACTIVE = release(1)
CANDIDATE = release(2)
CANARY = {"header": {"name": "x-canary", "value": "1"}}


def session(**kwargs: Any) -> NodeSession:
    counter = itertools.count(1)
    return NodeSession("node-1", holds=ACTIVE.ref, make_nonce=lambda: f"n{next(counter)}", **kwargs)


def rollout(selector: dict[str, Any] = CANARY, *, promoted: bool = False) -> CachedRollout:
    return CachedRollout(7, CANDIDATE, selector, promoted=promoted)


def test_a_node_holding_the_active_release_is_sent_the_candidate_with_its_selector() -> None:
    push = session().offer(ACTIVE, live=True, rollout=rollout())
    assert push is not None
    assert (push.slot, push.release) == (Slot.CANDIDATE, CANDIDATE)
    assert push.selector is not None
    assert (push.selector.header_name, push.selector.header_value) == ("x-canary", "1")


def test_the_active_release_goes_first_to_a_node_holding_nothing() -> None:
    s = NodeSession("node-1", make_nonce=lambda: "n1")
    push = s.offer(ACTIVE, live=False, rollout=rollout())
    assert push is not None and push.slot is Slot.ACTIVE
    s.ack(push.nonce)
    follow = s.offer(ACTIVE, live=False, rollout=rollout())
    assert follow is not None and follow.slot is Slot.CANDIDATE


def test_an_acked_candidate_is_not_sent_again() -> None:
    s = session()
    push = s.offer(ACTIVE, live=True, rollout=rollout())
    assert push is not None
    s.ack(push.nonce)
    assert s.candidate == CANDIDATE.ref
    assert s.offer(ACTIVE, live=True, rollout=rollout()) is None


def test_a_nacked_candidate_is_never_sent_again() -> None:
    s = session()
    push = s.offer(ACTIVE, live=True, rollout=rollout())
    assert push is not None
    s.nack(push.nonce, "needs policy.cache")
    assert s.candidate is None
    assert s.offer(ACTIVE, live=True, rollout=rollout()) is None


def test_a_node_group_selector_goes_whole_to_members_and_not_at_all_to_others() -> None:
    group = {"nodes": {"group": "green"}}
    member = session(labels={"group": "green", "zone": "a"}).offer(
        ACTIVE, live=True, rollout=rollout(group)
    )
    assert member is not None and member.selector is not None
    assert member.selector.whole_node
    other = session(labels={"group": "blue"})
    assert other.offer(ACTIVE, live=True, rollout=rollout(group)) is None


def test_a_sticky_share_carries_its_key() -> None:
    push = session().offer(ACTIVE, live=True, rollout=rollout({"percent": 10, "by": "cookie:sid"}))
    assert push is not None and push.selector is not None
    assert (push.selector.percent, push.selector.by_name) == (10, "sid")


def test_a_candidate_no_rollout_wants_is_dropped() -> None:
    s = session(candidate=CANDIDATE.ref)
    push = s.offer(ACTIVE, live=True, rollout=None)
    assert push is not None
    assert (push.slot, push.release) == (Slot.CANDIDATE, None)
    s.ack(push.nonce)
    assert s.candidate is None
    assert s.offer(ACTIVE, live=True, rollout=None) is None


def test_a_promoted_candidate_is_kept_until_its_release_arrives_as_active() -> None:
    s = session(candidate=CANDIDATE.ref)
    assert s.offer(ACTIVE, live=True, rollout=rollout(promoted=True)) is None
    promoted = release(2)  # the release holding the candidate's content
    push = s.offer(promoted, live=True, rollout=rollout(promoted=True))
    assert push is not None and push.slot is Slot.ACTIVE
    s.ack(push.nonce)
    assert (s.holds, s.candidate) == (CANDIDATE.ref, None)
    assert s.offer(promoted, live=True, rollout=rollout(promoted=True)) is None


def test_a_promoted_rollout_sends_no_new_candidate() -> None:
    assert session().offer(ACTIVE, live=True, rollout=rollout(promoted=True)) is None


def test_a_status_report_tells_which_candidate_the_node_serves() -> None:
    s = session()
    s.reported(ACTIVE.ref, CANDIDATE.ref)
    assert s.candidate == CANDIDATE.ref
    assert s.offer(ACTIVE, live=True, rollout=rollout()) is None
