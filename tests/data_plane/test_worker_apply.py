"""Applying a snapshot to real worker processes: prepare on each, then commit, or none.

The supervisor's side (`WorkerProcess`, `Node`) drives `python -m data_plane.worker`
children over their control channel; each test checks what a client on loopback gets.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine
from typing import Any, TypeVar

import pytest
from fleetgate_pb import config_pb2 as pb

from data_plane.capabilities import ApplyError
from data_plane.config.model import GatewayConfig
from data_plane.config.snapshot import build_snapshot
from data_plane.node import Node
from data_plane.settings import Limits, NodeSettings
from data_plane.workers import WorkerProcess
from tests.conftest import free_port

T = TypeVar("T")
WAIT = 20.0  # seconds for any one step: a hang, not a measurement


def run(scenario: Coroutine[Any, Any, T]) -> T:
    async def bounded() -> T:
        async with asyncio.timeout(60):
            return await scenario

    return asyncio.run(bounded())


def snapshot(version: int, *routes: str, **route_extra: Any) -> pb.Snapshot:
    """Routes `/<name>/**` to a service whose target refuses connections (502)."""
    config = GatewayConfig.model_validate(
        {
            "services": [{"name": "gone", "targets": [{"address": f"127.0.0.1:{free_port()}"}]}],
            "routes": [
                {"name": name, "paths": [f"/{name}/**"], "service": "gone", **route_extra}
                for name in routes
            ],
        }
    )
    return build_snapshot(config, version=version)


async def status_of(port: int, path: str) -> int | None:
    """The status a GET of `path` gets, or None when nothing listens."""
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except ConnectionRefusedError:
        return None
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        status_line = await reader.readline()
        return int(status_line.split()[1])
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


@contextlib.asynccontextmanager
async def worker(port: int) -> AsyncIterator[WorkerProcess]:
    process = await WorkerProcess.spawn(0, f"127.0.0.1:{port}", Limits(drain_timeout=1.0))
    try:
        yield process
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), WAIT)


def test_a_prepared_snapshot_is_not_served_until_it_is_committed() -> None:
    async def scenario() -> list[int | None]:
        port = free_port()
        async with worker(port) as process:
            await process.apply(snapshot(1, "one").SerializeToString())
            await process.prepare(snapshot(2, "one", "two").SerializeToString())
            prepared = await status_of(port, "/two/x")
            await process.commit()
            return [prepared, await status_of(port, "/two/x")]

    assert run(scenario()) == [404, 502]


def test_a_worker_with_no_config_listens_only_once_it_commits_one() -> None:
    async def scenario() -> list[int | None]:
        port = free_port()
        async with worker(port) as process:
            await process.prepare(snapshot(1, "one").SerializeToString())
            prepared = await status_of(port, "/one/x")
            await process.commit()
            return [prepared, await status_of(port, "/one/x")]

    assert run(scenario()) == [None, 502]


def test_an_aborted_snapshot_is_dropped_and_cannot_be_committed() -> None:
    async def scenario() -> tuple[str, int | None]:
        port = free_port()
        async with worker(port) as process:
            await process.apply(snapshot(1, "one").SerializeToString())
            await process.prepare(snapshot(2, "one", "two").SerializeToString())
            await process.abort()
            with pytest.raises(ValueError) as refused:
                await process.commit()
            return str(refused.value), await status_of(port, "/two/x")

    reason, status = run(scenario())
    assert "no prepared config" in reason
    assert status == 404


def test_a_snapshot_the_worker_refuses_is_answered_with_the_reason() -> None:
    async def scenario() -> str:
        async with worker(free_port()) as process:
            cached = snapshot(1, "one", cache={"ttl": 5})
            with pytest.raises(ValueError) as refused:
                await process.prepare(cached.SerializeToString())
            return str(refused.value)

    assert "policy.cache" in run(scenario())


def node_settings(port: int) -> NodeSettings:
    return NodeSettings(
        listen=("127.0.0.1", port),
        status_listen=("127.0.0.1", free_port()),
        workers=2,
        limits=Limits(drain_timeout=1.0),
    )


def test_a_snapshot_the_workers_refuse_leaves_every_worker_on_the_previous_one() -> None:
    async def scenario() -> tuple[str, list[int | None], int]:
        port = free_port()
        node = Node(node_settings(port))
        await node.start()
        try:
            await node.apply_snapshot(snapshot(1, "one"))
            bad = snapshot(2, "one", "two", cache={"ttl": 5})
            with pytest.raises(ApplyError) as refused:
                await node.apply_snapshot(bad)
            # Connections spread over both workers: each must still route v1 only.
            answers = [await status_of(port, path) for path in ["/one/x", "/two/x"] * 4]
            assert node.snapshot is not None
            return str(refused.value), answers, node.snapshot.version
        finally:
            await node.stop()

    reason, answers, version = run(scenario())
    assert reason.startswith("this node cannot serve snapshot v2")
    assert answers == [502, 404] * 4
    assert version == 1


def test_a_snapshot_is_served_by_every_worker_once_applied() -> None:
    async def scenario() -> list[int | None]:
        port = free_port()
        node = Node(node_settings(port))
        await node.start()
        try:
            await node.apply_snapshot(snapshot(1, "one"))
            await node.apply_snapshot(snapshot(2, "one", "two"))
            return [await status_of(port, "/two/x") for _ in range(8)]
        finally:
            await node.stop()

    assert run(scenario()) == [502] * 8


class RecordingWorker:
    """Takes what a worker would be sent, and says yes to everything."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    async def prepare(self, payload: bytes) -> None:
        self.sent.append(payload)

    async def commit(self) -> None:
        pass

    async def abort(self) -> None:
        pass


def test_the_workers_are_sent_a_pushed_snapshot_as_it_came() -> None:
    one = snapshot(1, "one", "two")
    # The same snapshot in other bytes than its deterministic serialization: the
    # version and hash last.
    rest = pb.Snapshot()
    rest.CopyFrom(one)
    rest.ClearField("version")
    rest.ClearField("hash")
    pushed = rest.SerializeToString() + pb.Snapshot(version=1, hash=one.hash).SerializeToString()
    assert pb.Snapshot.FromString(pushed) == one
    assert pushed != one.SerializeToString(deterministic=True)

    two = snapshot(2, "one")

    async def scenario() -> list[bytes]:
        node = Node(node_settings(free_port()))
        worker = RecordingWorker()
        node.workers = {0: worker}  # type: ignore[dict-item]
        await node.apply_snapshot(one, pushed)
        await node.apply_snapshot(two)  # no bytes it came as: serialized deterministically
        return worker.sent

    assert run(scenario()) == [pushed, two.SerializeToString(deterministic=True)]
