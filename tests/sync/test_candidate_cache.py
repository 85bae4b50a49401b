"""The node's disk cache of a rollout candidate: kept with its selector, refused when
torn, removed when the rollout ends."""

from __future__ import annotations

from pathlib import Path

from fleetgate_pb import sync_pb2

from data_plane.sync.cache import SnapshotDiskCache

from .harness import snapshot

SELECTOR = sync_pb2.CandidateSelector(percent=10, by=sync_pb2.CandidateSelector.COOKIE, by_name="s")


def push(version: int = 2) -> bytes:
    built = snapshot(version)
    message = sync_pb2.SnapshotPush(
        slot=sync_pb2.CANDIDATE, snapshot=built.SerializeToString(), selector=SELECTOR
    )
    return message.SerializeToString()


def test_a_cached_candidate_comes_back_with_its_selector(tmp_path: Path) -> None:
    cache = SnapshotDiskCache(tmp_path)
    assert cache.load_candidate() is None
    cache.write_candidate(push(2))
    loaded = cache.load_candidate()
    assert loaded is not None
    candidate, selector = loaded
    assert (candidate.version, candidate.hash) == (2, snapshot(2).hash)
    assert selector == SELECTOR
    assert cache.candidate_path.stat().st_mode & 0o777 == 0o600


def test_a_candidate_whose_content_does_not_match_its_hash_is_ignored(tmp_path: Path) -> None:
    cache = SnapshotDiskCache(tmp_path)
    built = snapshot(2)
    built.routes[0].paths[0] = "/tampered/**"
    message = sync_pb2.SnapshotPush(snapshot=built.SerializeToString(), selector=SELECTOR)
    cache.write_candidate(message.SerializeToString())
    assert cache.load_candidate() is None
    cache.write_candidate(b"\xff\xff not a push")
    assert cache.load_candidate() is None


def test_dropping_the_candidate_removes_it_and_keeps_the_active_snapshot(tmp_path: Path) -> None:
    cache = SnapshotDiskCache(tmp_path)
    cache.write(snapshot(1).SerializeToString())
    cache.write_candidate(push(2))
    cache.drop_candidate()
    cache.drop_candidate()  # twice is fine
    assert cache.load_candidate() is None
    active = cache.load()
    assert active is not None and active.version == 1
