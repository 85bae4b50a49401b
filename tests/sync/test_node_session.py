"""NodeSession: which release one node is sent next (no I/O)."""

from __future__ import annotations

import itertools

from control_plane.sync.session import NodeSession

from .harness import release


def session(**kwargs: object) -> NodeSession:
    counter = itertools.count(1)
    return NodeSession("node-1", make_nonce=lambda: f"n{next(counter)}", **kwargs)  # type: ignore[arg-type]


def test_a_node_holding_nothing_is_offered_the_release_with_a_nonce() -> None:
    push = session().offer(release(1), live=False)
    assert push is not None
    assert (push.nonce, push.release.version, push.live) == ("n1", 1, False)


def test_nothing_is_offered_when_there_is_no_release() -> None:
    assert session().offer(None, live=False) is None


def test_a_node_already_holding_the_release_is_offered_nothing() -> None:
    held = release(3)
    assert session(holds=held.ref).offer(held, live=False) is None


def test_a_node_holding_the_same_version_with_another_hash_is_offered_the_release() -> None:
    held = release(3)
    other = release(3, strip_prefix=True)
    assert other.hash != held.hash
    assert session(holds=held.ref).offer(other, live=False) is not None


def test_only_one_push_is_in_flight() -> None:
    s = session()
    assert s.offer(release(1), live=False) is not None
    assert s.offer(release(2), live=True) is None


def test_an_ack_records_what_the_node_holds_and_frees_the_next_push() -> None:
    s = session()
    push = s.offer(release(1), live=False)
    assert push is not None
    answer = s.ack(push.nonce)
    assert answer is not None and answer.error is None
    assert s.holds == release(1).ref
    assert s.offer(release(1), live=True) is None
    assert s.offer(release(2), live=True) is not None


def test_an_answer_with_an_unknown_nonce_changes_nothing() -> None:
    s = session()
    push = s.offer(release(1), live=False)
    assert s.ack("stale") is None
    assert s.nack("stale", "boom") is None
    assert s.pending == push
    assert s.holds is None


def test_a_rejected_release_is_never_offered_again() -> None:
    s = session()
    push = s.offer(release(2), live=False)
    assert push is not None
    answer = s.nack(push.nonce, "needs policy.auth")
    assert answer is not None and answer.error == "needs policy.auth"
    assert s.offer(release(2), live=True) is None
    assert s.offer(release(3), live=True) is not None


def test_a_release_rejected_in_an_earlier_stream_is_not_offered() -> None:
    assert session(rejected={release(2).ref}).offer(release(2), live=False) is None


def test_a_nack_without_a_reason_is_still_a_rejection_with_a_stated_reason() -> None:
    s = session()
    push = s.offer(release(1), live=False)
    assert push is not None
    answer = s.nack(push.nonce, "")
    assert answer is not None and answer.error == "the node gave no reason"
    assert release(1).ref in s.rejected


def test_repr_shows_holdings_and_the_push_in_flight() -> None:
    s = session(holds=release(1).ref)
    s.offer(release(2), live=True)
    assert repr(s).startswith("<NodeSession node-1 holds=v1 (")
    assert "pending=v2 (" in repr(s)


def test_on_connect_a_node_is_told_a_push_follows() -> None:
    push, outlook = session().connect(release(1))
    assert push is not None and outlook == "push"


def test_on_connect_a_node_holding_the_latest_is_told_it_is_current() -> None:
    assert session(holds=release(1).ref).connect(release(1)) == (None, "current")


def test_on_connect_a_node_that_rejected_the_latest_is_told_so() -> None:
    assert session(rejected={release(1).ref}).connect(release(1)) == (None, "rejected")


def test_on_connect_with_no_release_a_node_is_told_there_is_none() -> None:
    assert session().connect(None) == (None, "empty")


def test_a_status_report_tells_what_the_node_serves() -> None:
    s = session()
    s.reported(release(1).ref)
    assert s.offer(release(1), live=True) is None


def test_a_status_report_during_a_push_does_not_change_holdings() -> None:
    s = session(holds=release(1).ref)
    push = s.offer(release(2), live=True)
    assert push is not None
    # Written before the node applied the push: it names what the node served then.
    s.reported(release(3).ref)
    assert s.holds == release(1).ref
    s.ack(push.nonce)
    assert s.holds == release(2).ref
