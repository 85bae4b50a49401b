"""The node as a whole: workers sharing the port, the status server, metrics, 408.

Real `fleetgate data-plane` processes on loopback. The upstream learns which worker
forwarded a request from its `X-Request-ID`: a worker's ids share a random prefix.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import free_port
from tests.data_plane.running_node import RunningNode, is_closed, read_response
from tests.data_plane.scripted_upstream import ScriptedUpstream

pytestmark = pytest.mark.e2e

REQUEST_ID_PREFIX = 16  # hex characters of a worker's random request-id prefix


def gateway(upstream: str) -> dict[str, Any]:
    return {
        "services": [{"name": "app", "targets": [{"address": upstream}]}],
        "routes": [
            {"name": "all", "paths": ["/**"], "service": "app"},
            {"name": "counted", "hosts": ["counted.test"], "paths": ["/**"], "service": "app"},
        ],
    }


@pytest.fixture(scope="module")
def node(
    upstream: ScriptedUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningNode]:
    """A node with two workers."""
    running = RunningNode(tmp_path_factory.mktemp("node"), gateway(upstream.address), workers=2)
    running.start()
    running.wait_workers(2)
    yield running
    running.stop()


def get(path: str, host: str = "gw.test") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()


def poll(condition: Any, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout} s"
        time.sleep(0.02)


# ---------------------------------------------------------------- workers


def worker_prefixes(node: RunningNode, upstream: ScriptedUpstream, path: str) -> int:
    """How many workers answered 40 requests, each on a new connection."""
    upstream.clear()
    for i in range(40):  # the kernel spreads new connections over the listening sockets
        assert node.request(get(f"{path}/{i}")).status == 200
    ids = [r.header("x-request-id") or "" for r in upstream.wait_for(40)]
    return len({request_id[:REQUEST_ID_PREFIX] for request_id in ids})


def test_workers_share_the_listening_port_and_each_serves(
    node: RunningNode, scripted: ScriptedUpstream
) -> None:
    assert worker_prefixes(node, scripted, "/spread") == 2


def test_metrics_are_summed_across_workers(node: RunningNode, scripted: ScriptedUpstream) -> None:
    labels = {"route": "counted", "service": "app", "code": "2xx"}
    before = node.metric("fleetgate_requests_total", **labels)
    for i in range(40):
        assert node.request(get(f"/counted/{i}", host="counted.test")).status == 200
    assert node.metric("fleetgate_requests_total", **labels) == before + 40
    assert node.metric("fleetgate_workers") == 2


def test_a_worker_that_dies_is_replaced_and_both_serve_again(
    node: RunningNode, scripted: ScriptedUpstream
) -> None:
    victim, survivor = node.wait_workers(2)
    restarts = node.metric("fleetgate_worker_restarts_total")
    os.kill(victim, signal.SIGKILL)
    poll(lambda: node.metric("fleetgate_worker_restarts_total") == restarts + 1, "a restart")
    pids = node.worker_pids()
    assert len(pids) == 2 and victim not in pids and survivor in pids
    assert worker_prefixes(node, scripted, "/after-restart") == 2


def test_the_default_is_one_worker_per_core(scripted: ScriptedUpstream, tmp_path: Path) -> None:
    cores = os.cpu_count() or 1
    running = RunningNode(tmp_path, gateway(scripted.address), workers=0).start()
    try:
        # Ready means every worker was started and took the config: none is still to come.
        assert running.metric("fleetgate_workers") == cores
        assert len(running.worker_pids()) == cores
    finally:
        running.stop()


# ---------------------------------------------------------------- status server


def status_code(port: int, path: str) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return error.code
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return 0


def test_health_is_200_while_the_process_runs(node: RunningNode) -> None:
    assert node.status("/health") == (200, b'{"status":"ok"}')


def test_ready_names_the_config_served(node: RunningNode) -> None:
    status, body = node.status("/ready")
    assert status == 200
    assert b'"version": 1' in body and b'"hash": "' in body


def test_a_node_without_a_config_is_alive_but_not_ready(tmp_path: Path) -> None:
    status_port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "control_plane.cli",
            "data-plane",
            "--control-plane",
            f"127.0.0.1:{free_port()}",  # nothing answers there, and no cache exists
            "--cluster-token",
            "token",
            "--cache-dir",
            str(tmp_path / "cache"),
            "--listen",
            f"127.0.0.1:{free_port()}",
            "--status-listen",
            f"127.0.0.1:{status_port}",
            "--workers",
            "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        poll(lambda: status_code(status_port, "/health") == 200, "/health", timeout=20)
        assert status_code(status_port, "/ready") == 503
    finally:
        process.terminate()
        process.wait(20)


def test_metrics_show_every_family_the_node_promises(
    node: RunningNode, scripted: ScriptedUpstream
) -> None:
    node.request(get("/families"))
    # A list: the gauge fleetgate_downstream_connections and the counter
    # fleetgate_downstream_connections_total parse as two families of one name.
    parsed = list(text_string_to_metric_families(node.metrics()))
    families = {f.name + f.type: f for f in parsed}
    for name, labels in (
        ("fleetgate_requests_total", {"code": "2xx", "route": "all", "service": "app"}),
        ("fleetgate_request_duration_seconds_bucket", {"service": "app", "le": "+Inf"}),
        ("fleetgate_request_duration_seconds_count", {"service": "app"}),
        ("fleetgate_upstream_connections", {"service": "app"}),
        ("fleetgate_upstream_idle_connections", {"service": "app"}),
        ("fleetgate_upstream_tries_total", {"outcome": "ok", "service": "app"}),
        ("fleetgate_downstream_connections", {}),
        ("fleetgate_downstream_connections_total", {}),
        ("fleetgate_config_version", {}),
        ("fleetgate_workers", {}),
    ):
        samples = [s for f in parsed for s in f.samples if s.name == name]
        assert any(s.labels == labels for s in samples), (name, labels, samples)
    assert families["fleetgate_config_versiongauge"].samples[0].value == 1
    assert families["fleetgate_workersgauge"].samples[0].value == 2
    assert "fleetgate_request_duration_secondshistogram" in families


def test_open_client_connections_show_in_metrics(
    node: RunningNode, scripted: ScriptedUpstream
) -> None:
    held = [node.connect() for _ in range(5)]
    try:
        for sock in held:
            sock.sendall(get("/held"))
            assert read_response(sock).status == 200
        during = node.metric("fleetgate_downstream_connections")
        assert during >= 5
    finally:
        for sock in held:
            sock.close()
    poll(lambda: node.metric("fleetgate_downstream_connections") <= during - 5, "closing")


# ---------------------------------------------------------------- 408


@pytest.fixture(scope="module")
def impatient_node(
    upstream: ScriptedUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningNode]:
    """A node that gives a request head one second to arrive."""
    running = RunningNode(
        tmp_path_factory.mktemp("impatient"),
        gateway(upstream.address),
        env={"FLEETGATE_HEADER_TIMEOUT": "1"},
    ).start()
    yield running
    running.stop()


def test_a_head_not_complete_in_time_is_408_and_closed(
    impatient_node: RunningNode, scripted: ScriptedUpstream
) -> None:
    with impatient_node.connect() as sock:
        sock.sendall(b"GET /slow-head HTTP/1.1\r\nHost: gw.test\r\n")
        response = read_response(sock)
        assert response.status == 408
        assert response.json()["error"]["code"] == "request_timeout"
        assert is_closed(sock)
    assert scripted.received() == []


def test_a_head_trickled_byte_by_byte_is_408_all_the_same(
    impatient_node: RunningNode, scripted: ScriptedUpstream
) -> None:
    head = b"GET /trickle HTTP/1.1\r\nHost: gw.test\r\nX-Slow: " + b"v" * 1000
    with impatient_node.connect() as sock:
        sock.settimeout(0.1)
        answer = b""
        for byte in head:  # bounded: a 1 s deadline passes long before the bytes run out
            try:
                sock.sendall(bytes([byte]))
                answer += sock.recv(1 << 16)
            except TimeoutError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                break
            if b"\r\n\r\n" in answer:
                break
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert scripted.received() == []


def test_a_connection_that_sends_nothing_is_closed_after_the_head_timeout(
    impatient_node: RunningNode,
) -> None:
    with impatient_node.connect() as sock:
        assert is_closed(sock, timeout=10)


def test_a_proxy_port_another_process_listens_on_is_refused_at_start(
    upstream: ScriptedUpstream, tmp_path: Path
) -> None:
    second = RunningNode(tmp_path, gateway(upstream.address))
    with socket.socket() as holder:
        # SO_REUSEPORT on the holder too: the node's workers could join it silently.
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        holder.bind(("127.0.0.1", second.port))
        holder.listen(1)
        second.start(wait=False)
        assert second.process is not None
        assert second.process.wait(20) == 2
    assert f"127.0.0.1:{second.port} is in use by another process" in second.log()


def test_sighup_reloads_and_the_node_keeps_serving(
    upstream: ScriptedUpstream, tmp_path: Path
) -> None:
    early = RunningNode(tmp_path, gateway(upstream.address)).start(wait=False)
    try:
        early.wait_ready()
        early.signal(signal.SIGHUP)
        poll(lambda: "SIGHUP: reading" in early.log(), "the reload")
        assert early.status("/ready")[0] == 200
    finally:
        assert early.stop() == 0
