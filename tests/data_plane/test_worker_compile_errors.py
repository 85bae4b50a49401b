"""A worker answers what it refuses with the reason, and logs (not NACKs) its own bugs.

The worker's real control channel, over a socketpair, in this process.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from typing import Any

import pytest
from fleetgate_pb import config_pb2 as pb

from data_plane import worker as worker_module
from data_plane.channel import Channel, Kind
from data_plane.config.model import GatewayConfig
from data_plane.config.snapshot import build_snapshot
from data_plane.settings import Limits
from data_plane.worker import Worker


def snapshot(**service: Any) -> pb.Snapshot:
    config = GatewayConfig.model_validate(
        {
            "services": [{"name": "app", "targets": [{"address": "127.0.0.1:9"}], **service}],
            "routes": [{"name": "all", "paths": ["/**"], "service": "app"}],
        }
    )
    return build_snapshot(config, version=3)


async def exchange(*messages: tuple[Kind, bytes]) -> list[dict[str, Any]]:
    """The worker's answer to each message, sent one after the other."""
    ours, theirs = socket.socketpair()
    supervisor, channel = await Channel.open(ours), await Channel.open(theirs)
    worker = Worker(channel, ("127.0.0.1", 9), Limits())
    reading = asyncio.ensure_future(worker._read_channel())
    answers = []
    try:
        for request_id, (kind, payload) in enumerate(messages, 1):
            await supervisor.send(kind, request_id, payload)
            _, _, answer = await asyncio.wait_for(supervisor.receive(), 20)
            answers.append(dict(json.loads(answer)))
        return answers
    finally:
        reading.cancel()
        supervisor.close()
        channel.close()


async def prepare(payload: bytes) -> dict[str, Any]:
    [answer] = await exchange((Kind.PREPARE, payload))
    return answer


def test_a_snapshot_the_checks_refuse_is_answered_with_the_reason() -> None:
    bad = snapshot()
    bad.routes[0].service = "missing"
    answer = asyncio.run(prepare(bad.SerializeToString()))
    assert answer == {"ok": False, "error": "routes.all.service: no service named 'missing'"}


def test_bytes_that_are_no_snapshot_are_answered_with_the_reason() -> None:
    answer = asyncio.run(prepare(b"\xff\xff\xff"))
    assert answer["ok"] is False and "parsing" in answer["error"].lower()


def test_an_unexpected_failure_is_logged_and_answered_as_internal(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise KeyError("a bug in the compiler")

    monkeypatch.setattr(worker_module, "compile_payload", broken)
    with caplog.at_level(logging.ERROR, logger="fleetgate.worker"):
        answer = asyncio.run(prepare(snapshot().SerializeToString()))
    assert answer["ok"] is False
    assert "internal error" in answer["error"] and "a bug" not in answer["error"]
    [record] = caplog.records
    assert record.exc_info is not None and "a bug in the compiler" in str(record.exc_info[1])


def test_a_step_asked_out_of_turn_is_answered_with_the_reason_and_not_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR, logger="fleetgate.worker"):
        commit, promote = asyncio.run(exchange((Kind.COMMIT, b""), (Kind.PROMOTE, b"")))
    assert commit == {"ok": False, "error": "no prepared config to commit"}
    assert promote == {"ok": False, "error": "no candidate to promote"}
    assert caplog.records == []


def test_an_unexpected_failure_of_a_swap_is_logged_and_answered_as_internal(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(self: Worker, config: Any) -> None:
        raise KeyError("a bug in the swap")

    monkeypatch.setattr(Worker, "swap", broken)
    with caplog.at_level(logging.ERROR, logger="fleetgate.worker"):
        prepared, committed = asyncio.run(
            exchange((Kind.PREPARE, snapshot().SerializeToString()), (Kind.COMMIT, b""))
        )
    assert prepared == {"ok": True, "error": ""}
    assert committed["ok"] is False
    assert "internal error" in committed["error"] and "a bug" not in committed["error"]
    [record] = caplog.records
    assert record.exc_info is not None and "a bug in the swap" in str(record.exc_info[1])
