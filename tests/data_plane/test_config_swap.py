"""Config swaps on a running node: `fleetgate data-plane --config FILE` and SIGHUP.

A reload compiles the new file off the event loop and swaps one reference: requests
in flight finish on the config they started with, pools of unchanged services keep
their upstream connections (the upstream numbers its connections, so a test can tell
them apart), and a stream of requests across many reloads sees no failure.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.data_plane.running_node import RunningNode, read_response
from tests.data_plane.scripted_upstream import HoldBody, Respond, ScriptedUpstream

pytestmark = pytest.mark.e2e

RELOAD_TIMEOUT = 20.0
RELOADS = 20  # under load; each waits for 100 more answers before the next


def gateway(
    upstream: str, *, tag: str = "one", read: float = 30.0, extra_routes: int = 0
) -> dict[str, Any]:
    """A config whose responses carry `X-Config: <tag>`; `read` changes the service.

    The `extra_routes` have the tag in their paths: each tag changes every one of them,
    so that a reload compiles them all (a node recompiles only the routes that change).
    """
    routes: list[dict[str, Any]] = [
        {
            "name": "all",
            "paths": ["/**"],
            "service": "app",
            "response_headers": {"set": {"X-Config": tag}},
        }
    ]
    routes += [
        {"name": f"extra-{i}", "paths": [f"/extra/{tag}/{i}/**"], "service": "app"}
        for i in range(extra_routes)
    ]
    return {
        "services": [
            {"name": "app", "targets": [{"address": upstream}], "timeouts": {"read": read}}
        ],
        "routes": routes,
    }


def ready(node: RunningNode) -> dict[str, Any]:
    status, body = node.status("/ready")
    assert status == 200, body
    answer: dict[str, Any] = json.loads(body)
    return answer


def reload(node: RunningNode, config: dict[str, Any]) -> dict[str, Any]:
    """Write `config`, send SIGHUP, and wait until the node serves it; its /ready answer."""
    before = ready(node)
    node.write_config(config)
    node.signal(signal.SIGHUP)
    deadline = time.monotonic() + RELOAD_TIMEOUT
    while time.monotonic() < deadline:
        now = ready(node)
        if now["hash"] != before["hash"]:
            return now
        time.sleep(0.02)
    raise AssertionError(f"the node did not reload within {RELOAD_TIMEOUT} s:\n{node.log()}")


@pytest.fixture
def start_node(tmp_path: Path) -> Iterator[Any]:
    """Start a node on a config (pools kept a minute idle, so only a swap can drop them)."""
    running: list[RunningNode] = []

    def start(config: dict[str, Any], workers: int = 1) -> RunningNode:
        node = RunningNode(
            tmp_path, config, workers=workers, env={"FLEETGATE_UPSTREAM_IDLE_TIMEOUT": "60"}
        )
        running.append(node.start())
        node.wait_workers(workers)
        return node

    yield start
    for node in running:
        node.stop()


def get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: gw.test\r\n\r\n".encode()


# ---------------------------------------------------------------- versions


def test_each_reload_of_a_changed_file_is_the_next_config_version(
    start_node: Any, scripted: ScriptedUpstream
) -> None:
    node = start_node(gateway(scripted.address))
    assert ready(node)["version"] == 1
    assert reload(node, gateway(scripted.address, tag="two"))["version"] == 2
    assert node.metric("fleetgate_config_version") == 2


def test_a_reload_of_a_broken_file_keeps_the_running_config(
    start_node: Any, scripted: ScriptedUpstream
) -> None:
    node = start_node(gateway(scripted.address))
    node.config_file.write_text("services: [{name: app, targets: [{address: nowhere}]}]\n")
    node.signal(signal.SIGHUP)
    deadline = time.monotonic() + RELOAD_TIMEOUT
    while "reload refused" not in node.log():
        assert time.monotonic() < deadline, node.log()
        time.sleep(0.02)
    assert ready(node)["version"] == 1
    assert node.get("/still-served").header("x-config") == "one"


# ---------------------------------------------------------------- in flight


def test_a_request_in_flight_during_a_swap_finishes_on_its_own_config(
    start_node: Any, scripted: ScriptedUpstream
) -> None:
    hold = HoldBody()
    scripted.script = lambda r: hold if r.target == "/in-flight" else Respond(body=b"new")
    node = start_node(gateway(scripted.address, tag="one"))
    with node.connect() as sock:
        sock.sendall(b"POST /in-flight HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 4\r\n\r\nbody")
        scripted.wait_for(1)  # the upstream holds it
        reload(node, gateway(scripted.address, tag="two", read=20.0))
        assert node.get("/after-swap").header("x-config") == "two"
        hold.release.set()
        response = read_response(sock)
    assert (response.status, response.body) == (200, b"4")
    assert response.header("x-config") == "one"


# ---------------------------------------------------------------- pools


def connection_of(node: RunningNode, upstream: ScriptedUpstream, path: str) -> int:
    """The upstream connection a request arrived on."""
    upstream.clear()
    assert node.get(path).status == 200
    (request,) = upstream.wait_for(1)
    return request.connection


def test_the_pool_of_an_unchanged_service_survives_a_swap(
    start_node: Any, scripted: ScriptedUpstream
) -> None:
    node = start_node(gateway(scripted.address))
    before = connection_of(node, scripted, "/before")
    reload(node, gateway(scripted.address, tag="two", extra_routes=3))
    assert connection_of(node, scripted, "/after") == before


def test_the_pool_of_a_changed_service_is_replaced_by_a_swap(
    start_node: Any, scripted: ScriptedUpstream
) -> None:
    node = start_node(gateway(scripted.address))
    before = connection_of(node, scripted, "/before")
    reload(node, gateway(scripted.address, read=20.0))
    assert connection_of(node, scripted, "/after") > before


# ---------------------------------------------------------------- under load


class Clients:
    """Threads sending requests on keep-alive connections until told to stop (bounded)."""

    def __init__(self, node: RunningNode, count: int, limit: int = 20_000) -> None:
        self.node = node
        self.limit = limit
        self.stop = threading.Event()
        self.answers: dict[int, int] = {}
        self.tags: set[str | None] = set()
        self.failures: list[str] = []
        self.sent = 0
        self._lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, args=(i,)) for i in range(count)]

    def __enter__(self) -> Clients:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(30)

    def _run(self, index: int) -> None:
        served = 0
        while not self.stop.is_set() and served < self.limit:
            try:
                with self.node.connect() as sock:
                    # A new connection every 50 requests: accepts happen across swaps too.
                    for _ in range(50):
                        if self.stop.is_set():
                            return
                        sock.sendall(get(f"/load/{index}/{served}"))
                        response = read_response(sock)
                        served += 1
                        with self._lock:
                            self.answers[response.status] = self.answers.get(response.status, 0) + 1
                            self.tags.add(response.header("x-config"))
            except OSError as exc:
                with self._lock:
                    self.failures.append(f"client {index}, request {served}: {exc!r}")
                return


def test_reloads_under_a_stream_of_requests_fail_none(
    start_node: Any, scripted: ScriptedUpstream
) -> None:
    scripted.script = lambda r: Respond(body=b"ok")
    node = start_node(gateway(scripted.address), workers=2)
    with Clients(node, count=4) as clients:
        for i in range(RELOADS):
            # Every other reload changes the service too: its pool is retired under load.
            reload(node, gateway(scripted.address, tag=f"v{i}", read=30.0 - (i // 2) % 2))
            before = sum(clients.answers.values())
            deadline = time.monotonic() + RELOAD_TIMEOUT
            while sum(clients.answers.values()) < before + 100 and not clients.failures:
                assert time.monotonic() < deadline, "the clients made no progress"
                time.sleep(0.01)
    assert clients.failures == []
    assert set(clients.answers) == {200}, clients.answers
    assert {f"v{i}" for i in range(RELOADS)} <= clients.tags


# ---------------------------------------------------------------- coalescing


def test_sighups_during_a_reload_coalesce_into_one_more_reload_of_the_newest_file(
    start_node: Any, scripted: ScriptedUpstream
) -> None:
    # Enough routes that a reload compiles for a while: the SIGHUPs below arrive meanwhile.
    node = start_node(gateway(scripted.address, extra_routes=3000))
    node.write_config(gateway(scripted.address, tag="two", extra_routes=3000))
    for sent in range(1, 9):
        node.signal(signal.SIGHUP)
        # Each signal is handled before the next is sent, so the kernel merges none.
        deadline = time.monotonic() + RELOAD_TIMEOUT
        while node.log().count("SIGHUP") < sent:
            assert time.monotonic() < deadline, node.log()
            time.sleep(0.005)
    node.write_config(gateway(scripted.address, tag="three", extra_routes=3000))
    node.signal(signal.SIGHUP)
    deadline = time.monotonic() + RELOAD_TIMEOUT
    while time.monotonic() < deadline:
        if node.get("/x").header("x-config") == "three":
            break
        time.sleep(0.05)
    else:
        raise AssertionError(f"the newest file was never served:\n{node.log()}")
    # The first SIGHUP's reload, then one for all those that came while it ran (which
    # read the newest file); never one reload per signal.
    assert node.log().count("reloaded ") <= 3, node.log()


def test_a_reload_reads_and_checks_the_file_off_the_supervisors_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Reading, validating and checking a big file takes the supervisor about a second:
    on its loop, SIGHUPs (and status requests) would wait for all of it."""
    import asyncio

    from fleetgate_pb import config_pb2 as pb

    from data_plane import standalone

    loaded_on: list[threading.Thread] = []

    def load(self: standalone.ConfigFile) -> pb.Snapshot:
        loaded_on.append(threading.current_thread())
        return pb.Snapshot(version=1)

    class Node:
        async def apply_snapshot(self, snapshot: pb.Snapshot) -> float:
            return 0.0

    monkeypatch.setattr(standalone.ConfigFile, "load", load)
    source = standalone.ConfigFile("gateway.yaml")
    assert asyncio.run(standalone.reload_file(Node(), source))  # type: ignore[arg-type]
    assert loaded_on and loaded_on[0] is not threading.main_thread()
