"""Decisions of one batch on the same keys and windows, decided by one script call.

Against the real Redis, at one `now` written into both scripts in place of Redis's TIME
(so that separate calls see the same clock): n single decisions one after the other and
the same n decisions in one batch give the same answers, in the same order, and leave
the same windows and quota behind.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from data_plane.limits import redis_backend
from data_plane.limits.gcra import Window
from data_plane.limits.redis_backend import (
    ADMITTED,
    QUOTA_USED_UP,
    REFUSED,
    Pending,
    Quota,
    RedisBackend,
    arguments,
)

CLOCK = "redis.call('TIME')"


@pytest.fixture
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> int:
    """Both scripts read one `now` (unix microseconds) instead of Redis's TIME."""
    seconds = int(time.time())
    for name in ("SCRIPT", "SCRIPT_MANY"):
        script = getattr(redis_backend, name)
        assert CLOCK in script
        fixed = script.replace(CLOCK, f"{{'{seconds}', '250000'}}")
        monkeypatch.setattr(redis_backend, name, fixed)
        monkeypatch.setattr(redis_backend, f"{name}_SHA", hashlib.sha1(fixed.encode()).hexdigest())
    return seconds * 1_000_000 + 250_000


@pytest.fixture
def prefixes(redis_url: str) -> Iterator[tuple[str, str]]:
    """Two random key prefixes (singles, batched), their keys deleted after the test."""
    names = (f"fgtest-{uuid.uuid4().hex[:12]}", f"fgtest-{uuid.uuid4().hex[:12]}")
    yield names
    client = redis.Redis.from_url(redis_url)
    for name in names:
        for key in client.scan_iter(f"{name}:*"):
            client.delete(key)
    client.close()


def arrivals(prefix: str) -> list[tuple[list[str], list[tuple[Window, ...]], Quota | None]]:
    """A batch mixing keys: a consumer's minute window (4 admitted, then refused); a
    route and tenant with a monthly quota (2 left, then QUOTA_USED_UP); a key of two
    windows where the second's refuses and the minute's would admit; and a decision of
    another limit on the consumer's key and window, between the consumer's own (it is
    admitted and leaves no room for the consumer's fourth: deciding the consumer's
    together, past it, would admit that one and refuse it)."""
    tick = 1_000_000

    def key(name: str) -> str:
        return f"{prefix}:{{t}}:{name}"

    consumer = ([key("consumer")], [(Window.of(1, 4, tick),)], None)
    quota = Quota(f"{prefix}:{{t}}:quota:2026-12", 3, int(time.time()) + 86_400)
    tenant = (
        [key("route"), key("tenant")],
        [(Window.of(0, 50, tick),), (Window.of(2, 100, tick), Window.of(3, 1000, tick))],
        quota,
    )
    burst = ([key("burst")], [(Window.of(0, 3, tick), Window.of(1, 100, tick))], None)
    other = ([key("consumer")], [(Window.of(1, 6, tick),)], None)
    return (
        [consumer] * 3
        + [tenant] * 2
        + [burst] * 2
        + [other]
        + [consumer] * 4
        + [tenant] * 4
        + [burst] * 3
        + [other] * 2
        + [consumer]
    )


def stored(client: redis.Redis, prefix: str) -> dict[str, tuple[Any, int]]:
    """Every key under `prefix` (named without it): its value and its TTL in ms."""
    found: dict[str, tuple[Any, int]] = {}
    for raw in client.scan_iter(f"{prefix}:*"):
        name = raw.decode()[len(prefix) :]
        value = client.hgetall(raw) if client.type(raw) == b"hash" else client.get(raw)
        found[name] = (value, client.pttl(raw))
    return found


def assert_same(batched: dict[str, tuple[Any, int]], singles: dict[str, tuple[Any, int]]) -> None:
    """The same keys and values, and the same expiry (read a moment apart)."""
    assert {k: v for k, (v, _) in batched.items()} == {k: v for k, (v, _) in singles.items()}
    for name, (_, ttl) in batched.items():
        assert abs(ttl - singles[name][1]) < 2_000, name


def test_a_batch_decides_as_its_decisions_one_after_the_other_would(
    redis_url: str, prefixes: tuple[str, str], fixed_clock: int
) -> None:
    singles, batched = prefixes
    client = redis.Redis.from_url(redis_url)
    for prefix in prefixes:  # the tenant has used 1 of its 3 this month
        client.set(f"{prefix}:{{t}}:quota:2026-12", 1)

    async def run() -> tuple[list[Any], list[Any], list[int]]:
        backend = RedisBackend(redis_url)
        sent: list[int] = []
        evalsha = backend._evalsha

        async def counting(commands: list[Any]) -> list[Any]:
            sent.append(len(commands))
            return await evalsha(commands)

        try:
            one_by_one = [
                await backend._run_alone(*arguments(keys, windows, quota))
                for keys, windows, quota in arrivals(singles)
            ]
            backend._evalsha = counting  # type: ignore[method-assign]
            loop = asyncio.get_running_loop()
            batch: list[Pending] = [
                (*arguments(keys, windows, quota), loop.create_future(), 1.0)
                for keys, windows, quota in arrivals(batched)
            ]
            together = await backend._pipeline(batch)
        finally:
            await backend.close()
        return one_by_one, together, sent

    try:
        one_by_one, together, sent = asyncio.run(run())
        assert together == one_by_one
        outcomes = [reply[0] for reply in together]
        assert {reply[1] for reply in together} == {fixed_clock}
        assert outcomes.count(ADMITTED) and outcomes.count(REFUSED)
        assert outcomes.count(QUOTA_USED_UP) == 4
        # consumer x3 and x4 apart (a decision on its key between them), tenant x6, burst
        # x5, other x1, x2 and the last consumer on its own: 7 script calls for 22
        # decisions (the singles' NOSCRIPT loaded both fixed-clock scripts)
        assert sent == [7]
        left = stored(client, singles)
        assert len(left) == 5  # consumer, route, tenant, burst, quota
        assert_same(stored(client, batched), left)
    finally:
        client.close()


def test_decisions_at_once_on_one_key_each_carry_their_own_figures(redis_url: str) -> None:
    """Through `decide`, on Redis's clock: the admitted ones see 19, 18, ... 0 left of
    20, as one after the other would; the refused see 0 left and a wait."""
    prefix = f"fgtest-{uuid.uuid4().hex[:12]}"

    async def run() -> list[Any]:
        backend = RedisBackend(redis_url, prefix=prefix)
        windows = [(Window.of(2, 20, backend.ticks_per_second),)]
        key = backend.key("k", "k")
        try:
            return await asyncio.gather(*(backend.decide([key], windows) for _ in range(25)))
        finally:
            await backend.close()

    try:
        results = asyncio.run(run())
    finally:
        client = redis.Redis.from_url(redis_url)
        for key in client.scan_iter(f"{prefix}:*"):
            client.delete(key)
        client.close()
    admitted = [states[0][0] for outcome, states in results if outcome == ADMITTED]
    refused = [states[0][0] for outcome, states in results if outcome == REFUSED]
    assert sorted(s.remaining for s in admitted) == list(range(20))
    assert len(refused) == 5
    assert all(s.remaining == 0 and s.wait > 0 for s in refused)
