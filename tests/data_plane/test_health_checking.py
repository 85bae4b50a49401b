"""Active health checks on real processes: once per node, every worker learns, unhealthy
targets get no requests, and a target killed under load costs clients nothing
(DESIGN.md, "Resilience"; issue 13, point 1 and its faults).
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import free_port
from tests.data_plane.running_node import RunningNode, read_response
from tests.data_plane.scripted_upstream import (
    CloseAtHead,
    Received,
    Respond,
    Script,
    ScriptedUpstream,
    Silence,
)

pytestmark = pytest.mark.e2e

INTERVAL = 0.2
HEALTHY_THRESHOLD = 2
CHECK = {
    "path": "/hz",
    "interval": INTERVAL,
    # Generous: the upstreams share this process with the load's clients, and a slow
    # answer must not make a healthy target look down. A dead one refuses at once.
    "timeout": 2.0,
    "healthy_threshold": HEALTHY_THRESHOLD,
    "unhealthy_threshold": 2,
}
POLL = 10.0


def health_script(health: Script) -> Script:
    """Answer /hz with `health`, everything else 200."""
    return lambda request: health(request) if request.target == "/hz" else Respond()


def service(name: str, addresses: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "targets": [{"address": a} for a in addresses],
        "health_check": CHECK,
        **extra,
    }


def routes(*names: str) -> list[dict[str, Any]]:
    return [{"name": n, "paths": [f"/{n}/**"], "service": n} for n in names]


def app_requests(server: ScriptedUpstream) -> list[Received]:
    return [r for r in server.received() if r.target != "/hz"]


def wait_until(condition: Any, what: str, timeout: float = POLL) -> float:
    """Poll `condition` until it holds; returns the seconds it took."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(0.02)
    return time.monotonic() - started


class Load:
    """Clients sending GET `path` on keep-alive connections until stopped, recording
    every answer that is not a 200 (and every connection that broke)."""

    def __init__(self, node: RunningNode, path: str, clients: int = 3) -> None:
        self.node = node
        self.path = path.encode()
        self.answered = 0
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._client) for _ in range(clients)]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)

    def _client(self) -> None:
        while not self._stop.is_set():
            try:
                with self.node.connect() as sock:
                    for _ in range(50):  # a new connection now and then: every worker serves
                        if self._stop.is_set():
                            return
                        sock.sendall(b"GET %s HTTP/1.1\r\nHost: gw.test\r\n\r\n" % self.path)
                        status = read_response(sock).status
                        self.answered += 1
                        if status != 200:
                            self.failures.append(f"status {status}")
            except OSError as exc:
                self.failures.append(repr(exc))
                return


def checks(server: ScriptedUpstream) -> int:
    return len([r for r in server.received() if r.target == "/hz"])


def no_request_reaches(node: RunningNode, server: ScriptedUpstream, path: str) -> bool:
    """Whether 20 requests on new connections (so, to every worker) all miss `server`."""
    server.clear()
    answers = [node.get(path).status for _ in range(20)]
    assert answers == [200] * 20
    return app_requests(server) == []


def test_checks_run_once_per_node_and_every_worker_stops_using_an_unhealthy_target(
    tmp_path: Path,
) -> None:
    with ScriptedUpstream() as good, ScriptedUpstream() as bad:
        good.script = health_script(lambda r: Respond())
        bad.script = health_script(lambda r: Respond())
        config = {
            "services": [service("app", [good.address, bad.address])],
            "routes": routes("app"),
        }
        node = RunningNode(tmp_path, config, workers=2).start()
        try:
            node.wait_workers(2)
            wait_until(lambda: checks(bad) >= 1, "a first check")
            first = next(r for r in bad.received() if r.target == "/hz")
            assert (first.method, first.header("host")) == ("GET", bad.address)
            # Once per node: ten more checks take ten intervals (less 10% of jitter);
            # a check per worker would take half as long.
            count = checks(bad)
            took = wait_until(lambda: checks(bad) >= count + 10, "ten more checks")
            assert took > 10 * INTERVAL * 0.9 * 0.75
            bad.script = health_script(lambda r: Respond(status=500))
            wait_until(
                lambda: (
                    node.metric("fleetgate_target_healthy", service="app", target=bad.address) == 0
                ),
                "unhealthy in /metrics",
            )
            # Every worker learns within a second.
            wait_until(lambda: no_request_reaches(node, bad, "/app/x"), "workers told", 1.0 + 5.0)
            assert f"service app target {bad.address}: unhealthy" in node.log()
            bad.script = health_script(lambda r: Respond())
            with Load(node, "/app/x") as load:
                wait_until(lambda: app_requests(bad), "traffic back on the target")
            assert load.failures == []
            assert f"service app target {bad.address}: healthy again" in node.log()
        finally:
            node.stop()


def test_a_target_killed_under_load_costs_no_client_an_error_and_is_used_again_on_return(
    tmp_path: Path,
) -> None:
    with ScriptedUpstream() as steady:
        steady.script = health_script(lambda r: Respond())
        victim = ScriptedUpstream(health_script(lambda r: Respond())).start()
        port = victim.port
        breaker = {"failure_threshold": 3, "recovery_time": 30}
        config = {
            "services": [
                service(
                    "app",
                    [steady.address, victim.address],
                    retries=1,
                    circuit_breaker=breaker,
                    timeouts={"connect": 1, "read": 5},
                )
            ],
            "routes": routes("app"),
        }
        node = RunningNode(tmp_path, config, workers=2).start()
        try:
            node.wait_workers(2)
            with Load(node, "/app/x") as load:
                # Steady load first: the retry budget is a share of the requests of the
                # last 10 s, and must cover the requests in flight when the target dies.
                wait_until(lambda: len(app_requests(victim)) >= 250, "load on both targets")
                victim.stop()
                wait_until(
                    lambda: (
                        node.metric(
                            "fleetgate_target_healthy", service="app", target=victim.address
                        )
                        == 0
                    ),
                    "the dead target found unhealthy",
                )
                answered = load.answered
                wait_until(lambda: load.answered >= answered + 200, "load after the kill")
                revived = ScriptedUpstream(health_script(lambda r: Respond()), port=port).start()
                try:
                    took = wait_until(lambda: app_requests(revived), "traffic back")
                finally:
                    revived.stop()
            assert load.failures == []
            # Back within interval x healthy_threshold, plus a second (issue 13).
            assert took <= INTERVAL * HEALTHY_THRESHOLD + 1.0
        finally:
            node.stop()


def test_check_targets_that_fail_in_every_way_slow_no_worker_and_hold_no_more_sockets(
    tmp_path: Path,
) -> None:
    """A health endpoint answering 500, one that never answers, one that closes at once,
    and an address nothing listens on: all found unhealthy, while a healthy service
    answers every request, and the supervisor's sockets stay one per checked target."""
    with (
        ScriptedUpstream(health_script(lambda r: Respond(status=500))) as erroring,
        ScriptedUpstream(health_script(lambda r: Silence())) as hanging,
        ScriptedUpstream(health_script(lambda r: CloseAtHead())) as closing,
        ScriptedUpstream() as fine,
    ):
        nowhere = f"127.0.0.1:{free_port()}"
        bad = [erroring.address, hanging.address, closing.address, nowhere]
        config = {
            "services": [
                service("bad", bad, health_check={**CHECK, "interval": 0.1, "timeout": 1.0}),
                {"name": "fine", "targets": [{"address": fine.address}]},
            ],
            "routes": routes("bad", "fine"),
        }
        started = time.monotonic()
        node = RunningNode(tmp_path, config).start()
        try:
            assert node.process is not None
            supervisor = node.process.pid
            for address in bad:
                wait_until(
                    lambda a=address: (
                        node.metric("fleetgate_target_healthy", service="bad", target=a) == 0
                    ),
                    f"{address} unhealthy",
                )
            answer = node.get("/bad/x")
            assert (answer.status, answer.json()["error"]["code"]) == (503, "no_healthy_target")
            sockets = []
            for _ in range(10):
                assert [node.get("/fine/x").status for _ in range(20)] == [200] * 20
                sockets.append(open_sockets(supervisor))
            # A check of the hanging target lasts its timeout, ten intervals: the next
            # one waits for it, so its checks are one per timeout, not one per interval.
            assert hanging.connections <= (time.monotonic() - started) / 1.0 + 2
            assert max(sockets) - min(sockets) <= len(bad)
        finally:
            node.stop()


def open_sockets(pid: int) -> int:
    """How many sockets process `pid` holds open."""
    count = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            count += os.readlink(fd).startswith("socket:")
        except FileNotFoundError:
            continue
    return count
