"""The image's HEALTHCHECK (`python -m control_plane.health_probe`) on real processes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from control_plane.health_probe import health_address, main, main_process_argv
from tests.conftest import free_port
from tests.data_plane.running_node import RunningNode, catch_all


def cmdline(*parts: str) -> bytes:
    return b"".join(part.encode() + b"\0" for part in parts)


def test_the_arguments_are_what_follows_the_fleetgate_script(tmp_path: Path) -> None:
    proc = tmp_path / "cmdline"
    proc.write_bytes(
        cmdline(
            "/opt/fleetgate/bin/python3",
            "/opt/fleetgate/bin/fleetgate",
            "data-plane",
            "--workers",
            "2",
        )
    )
    assert main_process_argv(proc) == ["data-plane", "--workers", "2"]
    proc.write_bytes(cmdline("/usr/bin/sleep", "infinity"))
    with pytest.raises(ValueError, match="not a fleetgate command line"):
        main_process_argv(proc)


def test_a_node_is_probed_on_its_status_address_and_a_control_plane_on_its_admin_address(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert health_address(["data-plane", "--status-listen", "10.1.2.3:9999"]) == ("10.1.2.3", 9999)
    assert health_address(["control-plane", "--admin-listen", "127.0.0.2:8111"]) == (
        "127.0.0.2",
        8111,
    )
    monkeypatch.setenv("FLEETGATE_STATUS_LISTEN", "0.0.0.0:9911")
    assert health_address(["data-plane"]) == ("127.0.0.1", 9911)
    monkeypatch.setenv("FLEETGATE_ADMIN_LISTEN", "[::]:8011")
    assert health_address(["control-plane"]) == ("::1", 8011)


def test_a_command_that_serves_no_health_is_unhealthy() -> None:
    with pytest.raises(ValueError, match="serves no /health"):
        health_address(["db", "upgrade"])
    assert main(["db", "upgrade"]) == 1
    assert main(["no-such-command"]) == 1


@pytest.mark.e2e
def test_a_running_node_is_healthy_and_a_stopped_one_is_not(tmp_path: Path) -> None:
    node = RunningNode(tmp_path, catch_all(f"127.0.0.1:{free_port()}")).start()
    try:
        assert node.process is not None
        argv = main_process_argv(Path(f"/proc/{node.process.pid}/cmdline"))
        assert argv[0] == "data-plane"
        probe = [sys.executable, "-m", "control_plane.health_probe", *argv]
        assert subprocess.run(probe, capture_output=True, timeout=30).returncode == 0
    finally:
        node.stop()
    done = subprocess.run(probe, capture_output=True, text=True, timeout=30)
    assert done.returncode == 1
    assert f"no healthy answer from 127.0.0.1:{node.status_port}/health" in done.stderr
