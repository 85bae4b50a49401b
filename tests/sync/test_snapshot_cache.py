"""The snapshot cache: latest release per slot, newer only, awaitable."""

from __future__ import annotations

import asyncio

from control_plane.sync.cache import Slot, SnapshotCache

from .harness import release, run


def test_an_empty_cache_has_no_latest_release() -> None:
    assert SnapshotCache().latest() is None


def test_put_makes_a_release_the_latest_of_its_slot() -> None:
    cache = SnapshotCache()
    assert cache.put(release(1))
    assert cache.latest().version == 1  # type: ignore[union-attr]
    assert cache.latest(Slot.CANDIDATE) is None


def test_an_older_or_equal_version_does_not_replace_the_latest() -> None:
    cache = SnapshotCache()
    cache.put(release(3))
    assert not cache.put(release(2))
    assert not cache.put(release(3))
    assert cache.latest().version == 3  # type: ignore[union-attr]


def test_wait_newer_returns_at_once_when_the_cache_is_already_newer() -> None:
    async def scenario() -> int:
        cache = SnapshotCache()
        cache.put(release(2))
        return (await cache.wait_newer(1)).version

    assert run(scenario()) == 2


def test_wait_newer_wakes_on_the_first_newer_put() -> None:
    async def scenario() -> int:
        cache = SnapshotCache()
        cache.put(release(1))
        waiter = asyncio.create_task(cache.wait_newer(1))
        await asyncio.sleep(0)  # let it start waiting
        assert not waiter.done()
        cache.put(release(2))
        return (await waiter).version

    assert run(scenario()) == 2


def test_wait_newer_skips_to_the_latest_when_several_arrived() -> None:
    async def scenario() -> int:
        cache = SnapshotCache()
        waiter = asyncio.create_task(cache.wait_newer(0))
        await asyncio.sleep(0)
        cache.put(release(1))
        cache.put(release(2))
        cache.put(release(3))
        return (await waiter).version

    assert run(scenario()) == 3


def test_repr_shows_the_version_per_slot() -> None:
    cache = SnapshotCache()
    assert repr(cache) == "<SnapshotCache empty>"
    cache.put(release(7))
    assert repr(cache) == "<SnapshotCache active=v7>"
