"""The supervisor's watchdog: a worker whose event loop stops turning is logged, counted,
killed and replaced, and the node serves again. Real node processes on loopback."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.data_plane.running_node import RunningNode, catch_all
from tests.data_plane.scripted_upstream import ScriptedUpstream

pytestmark = pytest.mark.e2e


def until(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(OSError):
            if condition():
                return
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout} s"
        time.sleep(0.05)


def test_a_worker_whose_loop_stops_is_replaced(scripted: ScriptedUpstream, tmp_path: Path) -> None:
    config = catch_all(scripted.address)
    node = RunningNode(tmp_path, config, env={"FLEETGATE_WORKER_STALL_TIMEOUT": "1"}).start()
    [stuck] = node.wait_workers(1)
    try:
        assert node.get("/before").status == 200
        os.kill(stuck, signal.SIGSTOP)  # the loop no longer turns, the process lives on
        until(lambda: stuck not in node.worker_pids(), "the stuck worker's replacement")
        node.wait_workers(1)
        until(lambda: node.get("/after").status == 200, "a request served by the replacement")
        assert node.metric("fleetgate_worker_stalls_total") == 1
        assert node.metric("fleetgate_worker_restarts_total") == 1
        assert "its event loop has not turned for 1 s; replacing it" in node.log()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(stuck, signal.SIGKILL)
        node.stop()


def test_a_busy_but_turning_loop_is_left_alone(scripted: ScriptedUpstream, tmp_path: Path) -> None:
    config = catch_all(scripted.address)
    node = RunningNode(tmp_path, config, env={"FLEETGATE_WORKER_STALL_TIMEOUT": "1"}).start()
    try:
        [worker] = node.wait_workers(1)
        for i in range(50):
            assert node.get(f"/{i}").status == 200
        time.sleep(2.5)  # two and a half watchdog timeouts, on purpose: nothing may happen
        assert node.worker_pids() == [worker]
        assert node.metric("fleetgate_worker_stalls_total") == 0
    finally:
        node.stop()
