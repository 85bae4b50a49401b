"""Rate limits on Redis, with real nodes and real Redis servers: one limit per fleet, faults.

The shared Redis (the `redis_url` fixture) serves the fleet tests under a random key
prefix; the fault tests start a Redis of their own, which they stop, slow down
(DEBUG SLEEP) and flush.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from data_plane.limits.gcra import Window
from data_plane.limits.redis_backend import ADMITTED, REFUSED, BackendUnavailable, RedisBackend
from tests.conftest import free_port, service_missing
from tests.data_plane.running_node import RunningNode
from tests.data_plane.scripted_upstream import ScriptedUpstream

LIMIT = 20
POLL = 15.0
METERED_KEY = (
    "metered-key-0123456789abcdef"  # seconds a test waits for a node to notice Redis is back
)


def config(address: str) -> dict[str, Any]:
    def route(name: str, **limit: Any) -> dict[str, Any]:
        return {
            "name": name,
            "paths": [f"/{name}/**"],
            "service": "app",
            "rate_limit": {"backend": "redis", "by": "route", **limit},
        }

    metered = route("metered", use_tier=True)
    metered["auth"] = {"methods": ["api_key"]}
    return {
        "services": [{"name": "app", "targets": [{"address": address}]}],
        "tiers": [{"name": "METERED", "monthly_quota": 2}],
        "tenants": [{"name": "meter", "tier": "METERED"}],
        "consumers": [
            {"name": "m", "tenant": "meter", "api_keys": [{"id": "k", "key": METERED_KEY}]}
        ],
        "routes": [
            metered,
            route("shared", requests_per_hour=LIMIT),
            route("open", requests_per_hour=1000, fail_mode="open"),
            route("closed", requests_per_hour=1000, fail_mode="closed"),
            route("few", requests_per_hour=2, fail_mode="closed"),
        ],
    }


class OwnRedis:
    """A redis-server of a test's own, on a free port, with DEBUG allowed."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> OwnRedis:
        binary = shutil.which("redis-server")
        if binary is None:
            service_missing("redis-server", FileNotFoundError("redis-server is not installed"))
            raise AssertionError("unreachable")
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--enable-debug-command",
                "yes",
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(redis.RedisError):
                if self.client().ping():
                    return self
            time.sleep(0.05)
        raise AssertionError("the test's redis-server did not start")

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    """A random key prefix in the shared Redis, its keys deleted after the test."""
    name = f"fgtest-{uuid.uuid4().hex[:12]}"
    yield name
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(f"{name}:*"):
        client.delete(key)


def node_env(url: str, prefix: str) -> dict[str, str]:
    return {"FLEETGATE_REDIS_URL": url, "FLEETGATE_REDIS_KEY_PREFIX": prefix}


def test_two_nodes_sharing_redis_admit_the_limit_together(
    tmp_path: Path, upstream: ScriptedUpstream, redis_url: str, prefix: str
) -> None:
    upstream.clear()
    env = node_env(redis_url, prefix)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = RunningNode(tmp_path / "a", config(upstream.address), env=env)
    second = RunningNode(tmp_path / "b", config(upstream.address), env=env)
    first.start()
    try:
        second.start()
        try:
            statuses = [node.get("/shared/x").status for _ in range(20) for node in (first, second)]
            assert statuses.count(200) == LIMIT
            assert statuses.count(429) == len(statuses) - LIMIT
            keys = list(redis.Redis.from_url(redis_url).scan_iter(f"{prefix}:*"))
            assert keys == [f"{prefix}:{{route|shared|route|}}:route|shared|route|".encode()]
            assert redis.Redis.from_url(redis_url).pttl(keys[0]) > 0  # keys expire
        finally:
            second.stop()
    finally:
        first.stop()


def test_a_monthly_quota_on_redis_is_shared_by_the_fleet_and_survives_a_restart(
    tmp_path: Path, upstream: ScriptedUpstream, redis_url: str, prefix: str
) -> None:
    env = node_env(redis_url, prefix)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = RunningNode(tmp_path / "a", config(upstream.address), env=env).start()
    second = RunningNode(tmp_path / "b", config(upstream.address), env=env).start()
    key = {"x-api-key": METERED_KEY}
    try:
        assert first.get("/metered/x", key).status == 200
        assert second.get("/metered/x", key).status == 200
        refused = first.get("/metered/x", key)
        assert refused.status == 429 and refused.json()["error"]["code"] == "quota_exceeded"
        assert int(refused.header("Retry-After") or 0) >= 1
        first.stop()
        first.start()
        assert first.get("/metered/x", key).status == 429  # counted in Redis, not the node
    finally:
        second.stop()
        first.stop()
    month = time.strftime("%Y-%m", time.gmtime())
    counter = redis.Redis.from_url(redis_url).get(f"{prefix}:{{tenant|meter}}:quota:{month}")
    assert counter == b"2"


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    server = OwnRedis(tmp_path).start()
    yield server
    server.stop()


@pytest.fixture
def node_on_own_redis(
    tmp_path: Path, upstream: ScriptedUpstream, own_redis: OwnRedis
) -> Iterator[RunningNode]:
    directory = tmp_path / "node"
    directory.mkdir()
    env = node_env(own_redis.url, "fgtest")
    node = RunningNode(directory, config(upstream.address), env=env).start()
    yield node
    node.stop()


def decided(node: RunningNode, path: str) -> bool:
    """Whether Redis decided the request (a decision brings the RateLimit field)."""
    return node.get(path).header("RateLimit") is not None


def test_with_redis_stopped_requests_follow_the_fail_mode_and_the_log_says_so_once(
    node_on_own_redis: RunningNode, own_redis: OwnRedis
) -> None:
    node = node_on_own_redis
    assert decided(node, "/open/x")
    own_redis.stop()
    answers = [node.get("/open/x") for _ in range(10)]
    assert [a.status for a in answers] == [200] * 10
    assert all(a.header("RateLimit") is None for a in answers)
    assert answers[0].header("RateLimit-Policy") == '"hour";q=1000;w=3600'
    closed = [node.get("/closed/x") for _ in range(10)]
    assert [a.status for a in closed] == [503] * 10
    assert closed[0].json()["error"]["code"] == "rate_limit_unavailable"
    assert node.log().count("cannot decide") == 1
    assert node.metric(
        "fleetgate_rate_limit_decisions_total", route="closed", policy="rate_limit",
        outcome="fail_closed",
    ) == 10  # fmt: skip
    assert node.metric("fleetgate_rate_limit_redis_errors_total") >= 1

    own_redis.start()  # the same port: the node reconnects on its own
    deadline = time.monotonic() + POLL
    while not decided(node, "/open/x"):
        assert time.monotonic() < deadline, node.log()
        time.sleep(0.1)
    assert node.log().count("decides again") == 1


def test_a_slow_redis_past_the_deadline_gets_the_fail_mode(
    node_on_own_redis: RunningNode, own_redis: OwnRedis
) -> None:
    node = node_on_own_redis
    assert node.get("/closed/x").status == 200
    sleeper = threading.Thread(
        target=lambda: own_redis.client().execute_command("DEBUG", "SLEEP", 2)
    )
    sleeper.start()
    try:
        time.sleep(0.2)  # let the sleep begin: Redis answers nothing until it ends
        answer = node.get("/closed/x")
        assert answer.status == 503
        assert answer.json()["error"]["code"] == "rate_limit_unavailable"
        assert node.get("/open/x").status == 200
    finally:
        sleeper.join(10)
    deadline = time.monotonic() + POLL
    while not decided(node, "/closed/x"):
        assert time.monotonic() < deadline, node.log()
        time.sleep(0.1)


def test_a_flushed_script_is_loaded_again_and_the_decision_made(
    node_on_own_redis: RunningNode, own_redis: OwnRedis
) -> None:
    node = node_on_own_redis
    assert [node.get("/few/x").status for _ in range(1)] == [200]
    own_redis.client().script_flush()
    assert node.get("/few/x").status == 200
    refused = node.get("/few/x")
    assert refused.status == 429 and refused.header("Retry-After") is not None
    assert node.metric("fleetgate_rate_limit_redis_errors_total") == 0


def test_a_redis_route_on_a_node_without_redis_is_refused(
    tmp_path: Path, upstream: ScriptedUpstream
) -> None:
    assert "FLEETGATE_REDIS_URL" not in os.environ
    node = RunningNode(tmp_path, config(upstream.address)).start(wait=False)
    try:
        deadline = time.monotonic() + 20
        while "has no --redis-url" not in node.log():
            assert time.monotonic() < deadline, node.log()
            time.sleep(0.1)
        assert node.status("/ready")[0] != 200
    finally:
        node.stop()


# ---------------------------------------------------------------- decisions at once, in process


def answers_ping(port: int) -> bool:
    """Whether Redis answers a PING within 50 ms (redis-py would retry a timeout)."""
    with socket.create_connection(("127.0.0.1", port), timeout=1) as probe:
        probe.settimeout(0.05)
        probe.sendall(b"PING\r\n")
        try:
            return probe.recv(16).startswith(b"+PONG")
        except TimeoutError:
            return False


def decide_at_once(url: str, prefix: str, count: int, deadline: float = 1.0) -> list[object]:
    """`count` decisions on one key (LIMIT per hour) started in one turn of the loop:
    each is ADMITTED, REFUSED or the BackendUnavailable it raised."""

    async def run() -> list[object]:
        backend = RedisBackend(url, prefix=prefix)
        windows = [(Window.of(2, LIMIT, backend.ticks_per_second),)]
        key = backend.key("k", "k")
        try:
            results = await asyncio.gather(
                *(backend.decide([key], windows, deadline) for _ in range(count)),
                return_exceptions=True,
            )
        finally:
            await backend.close()
        return [r if isinstance(r, BaseException) else r[0] for r in results]

    return asyncio.run(run())


def test_decisions_made_at_once_leave_together_and_admit_exactly_the_limit(
    redis_url: str, prefix: str
) -> None:
    outcomes = decide_at_once(redis_url, prefix, 3 * LIMIT)
    assert outcomes.count(ADMITTED) == LIMIT
    assert outcomes.count(REFUSED) == 2 * LIMIT


def test_decisions_made_at_once_after_a_flush_load_the_script_again(tmp_path: Path) -> None:
    own = OwnRedis(tmp_path).start()
    try:
        assert decide_at_once(own.url, "flushed", 3)[0] == ADMITTED
        own.client().script_flush()
        assert decide_at_once(own.url, "flushed", 10) == [ADMITTED] * 10
    finally:
        own.stop()


def test_decisions_made_at_once_on_a_slow_redis_all_miss_their_deadline(tmp_path: Path) -> None:
    own = OwnRedis(tmp_path).start()
    try:
        sleeper = threading.Thread(target=lambda: own.client().execute_command("DEBUG", "SLEEP", 1))
        sleeper.start()
        deadline = time.monotonic() + 5
        while answers_ping(own.port):  # until Redis stops answering: the sleep has begun
            assert time.monotonic() < deadline, "DEBUG SLEEP never held Redis"
        outcomes = decide_at_once(own.url, "slow", 8, deadline=0.05)
        sleeper.join(10)
        assert all(isinstance(o, BackendUnavailable) for o in outcomes)
    finally:
        own.stop()


def test_a_decision_is_sent_as_the_client_library_would_pack_it_and_packed_once() -> None:
    from redis.asyncio.connection import Connection

    from data_plane.limits.redis_backend import SCRIPT_SHA

    backend = RedisBackend("redis://127.0.0.1:1/0", prefix="p")  # never connects
    keys = [backend.key("t", "route|r|consumer|consumer:alice"), "p:{t}:quota:2026-12"]
    args: list[int | str] = [1000, 1_800_000_000, 1, 0, 1_000, 1_000_000]
    expected = b"".join(Connection().pack_command("EVALSHA", SCRIPT_SHA, 2, *keys, *args))
    assert backend._command(keys, args) == expected
    assert backend._command(list(keys), list(args)) is backend._command(keys, args)
    asyncio.run(backend.close())


def test_pooled_connections_a_restart_broke_are_replaced_and_the_decision_made(
    tmp_path: Path,
) -> None:
    own = OwnRedis(tmp_path).start()

    async def run() -> list[int]:
        backend = RedisBackend(own.url, prefix="restarted")
        windows = [(Window.of(2, LIMIT, backend.ticks_per_second),)]
        key = backend.key("k", "k")
        try:
            # Two connections in the pool, both idle when Redis restarts under them
            first = await asyncio.gather(*(backend.decide([key], windows) for _ in range(2)))
            own.stop()
            own.start()
            outcome, _ = await backend.decide([key], windows, deadline=5.0)
            assert backend.up and backend.errors == 0
            return [*(o for o, _ in first), outcome]
        finally:
            await backend.close()

    try:
        assert asyncio.run(run()) == [ADMITTED] * 3
    finally:
        own.stop()


def test_a_decision_answered_too_late_is_not_sent_again(tmp_path: Path) -> None:
    """A command Redis took but answered after the read timed out counts once: a late
    reply is not a broken connection, and sending it again would count it twice."""
    own = OwnRedis(tmp_path).start()

    async def run() -> object:
        backend = RedisBackend(own.url, prefix="late")
        windows = [(Window.of(2, LIMIT, backend.ticks_per_second),)]
        key = backend.key("k", "k")
        try:
            await backend.decide([key], windows)  # the connection is open before the sleep
            sleeper = threading.Thread(
                target=lambda: own.client().execute_command("DEBUG", "SLEEP", 1.5)
            )
            sleeper.start()
            deadline = time.monotonic() + 5
            while answers_ping(own.port):  # until Redis stops answering
                assert time.monotonic() < deadline, "DEBUG SLEEP never held Redis"
            try:
                return (await backend.decide([key], windows, deadline=5.0))[0]
            except BackendUnavailable as exc:
                return exc
            finally:
                await asyncio.to_thread(sleeper.join, 10)
        finally:
            await backend.close()

    try:
        asyncio.run(run())
        # counted once (the command Redis ran before it saw the connection close), or not
        # at all: never twice
        assert decide_at_once(own.url, "late", 3 * LIMIT).count(ADMITTED) >= LIMIT - 2
    finally:
        own.stop()
