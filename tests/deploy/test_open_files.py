"""Both planes raise their open-file limit at start: a fleet needs a descriptor per node."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.data_plane.running_node import RunningNode, catch_all

LOW = 256


def low_limit() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (LOW, hard))


def soft_open_files(pid: int) -> int:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            return int(line.split()[3])
    raise AssertionError("no open-file limit in /proc")


def hard_limit() -> int:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        pytest.skip("an unlimited hard limit: nothing to compare with")
    if hard <= LOW:
        pytest.skip(f"the hard limit ({hard}) leaves nothing to raise")
    return hard


def test_the_limit_is_raised_to_the_hard_limit_and_reported() -> None:
    hard = hard_limit()
    probe = (
        "import resource\n"
        f"resource.setrlimit(resource.RLIMIT_NOFILE, ({LOW}, {hard}))\n"
        "from data_plane.descriptors import raise_open_files_limit\n"
        "print(*raise_open_files_limit(), resource.getrlimit(resource.RLIMIT_NOFILE)[0])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.split() == [str(LOW), str(hard), str(hard)]


@pytest.mark.e2e
def test_a_control_plane_started_with_a_low_limit_raises_it(tmp_path: Path) -> None:
    hard = hard_limit()
    admin = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "control_plane.cli",
            "control-plane",
            "--db",
            f"sqlite:///{tmp_path / 'store.db'}",
            "--admin-listen",
            f"127.0.0.1:{admin}",
            "--sync-listen",
            f"127.0.0.1:{free_port()}",
        ],
        env={**os.environ, "FLEETGATE_CLUSTER_TOKEN": "open-files-token-0123456789"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=low_limit,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, "the control plane exited"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{admin}/health", timeout=2):
                    break
            except OSError:
                assert time.monotonic() < deadline, "no /health within 60 s"
                time.sleep(0.2)
        assert soft_open_files(process.pid) == hard
    finally:
        process.terminate()
        process.wait(30)


@pytest.mark.e2e
def test_a_node_started_with_a_low_limit_raises_it_for_its_workers(tmp_path: Path) -> None:
    hard = hard_limit()
    node = RunningNode(tmp_path, catch_all(f"127.0.0.1:{free_port()}"))
    original = resource.getrlimit(resource.RLIMIT_NOFILE)
    low_limit()  # the node inherits it from this process
    try:
        node.start()
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, original)
    try:
        assert node.process is not None
        assert soft_open_files(node.process.pid) == hard
        assert [soft_open_files(pid) for pid in node.worker_pids()] == [hard]
    finally:
        node.stop()
