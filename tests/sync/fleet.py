"""Real `fleetgate` processes on loopback for the end-to-end tests, and ways to wait on them."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx

from control_plane.up.echo import start_echo

from .. import loopback_http
from ..conftest import free_port

ADMIN_TOKEN = "e2e-admin-token-0123456789abcdef"
CLUSTER_TOKEN = "e2e-cluster-token-0123456789abcdef"
START_TIMEOUT = 30.0
STATUS_INTERVAL = 1.0  # seconds between a node's status reports
RECONNECT_MAX_DELAY = 1.0  # seconds a node waits at most before reconnecting
T = TypeVar("T")


def until(
    condition: Callable[[], T | None], what: str, timeout: float = 20.0, interval: float = 0.05
) -> T:
    """Poll `condition` until it returns a truthy value; fail naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = condition()
        except (httpx.HTTPError, OSError) as exc:
            last, value = exc, None
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what} (last error: {last})")


class Process:
    """A `fleetgate` sub-command running as a child process, its output in a log file."""

    def __init__(
        self, name: str, argv: list[str], log: Path, env: dict[str, str], cwd: Path | None = None
    ) -> None:
        self.name = name
        self.argv = argv
        self.log = log
        self.env = env
        self.cwd = cwd
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self) -> Process:
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "control_plane.cli", *self.argv],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,
            )
        return self

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def check_alive(self) -> None:
        if not self.alive():
            raise AssertionError(f"{self.name} exited; its log:\n{self.log_tail()}")

    def log_tail(self, size: int = 4000) -> str:
        with contextlib.suppress(FileNotFoundError):
            return self.log.read_text(errors="replace")[-size:]
        return ""

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 15.0) -> None:
        if self.popen is None:
            return
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, sig)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)  # node workers left behind

    def __repr__(self) -> str:
        return f"<Process {self.name} {'running' if self.alive() else 'stopped'}>"


def environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLEETGATE_")}
    env["FLEETGATE_ENVIRONMENT"] = "development"
    env.update(extra)
    return env


class ControlPlane(Process):
    def __init__(
        self,
        tmp: Path,
        name: str,
        db: str,
        *,
        cluster_token: str = CLUSTER_TOKEN,
        extra: tuple[str, ...] = (),
    ) -> None:
        self.admin_port = free_port()
        self.sync_port = free_port()
        super().__init__(
            name,
            [
                "control-plane",
                "--db",
                db,
                "--admin-listen",
                f"127.0.0.1:{self.admin_port}",
                "--sync-listen",
                f"127.0.0.1:{self.sync_port}",
                "--node-offline-after",
                "30",
                *extra,
            ],
            tmp / f"{name}.log",
            environment(FLEETGATE_ADMIN_TOKEN=ADMIN_TOKEN, FLEETGATE_CLUSTER_TOKEN=cluster_token),
        )

    @property
    def sync_address(self) -> str:
        return f"127.0.0.1:{self.sync_port}"

    def admin(self) -> httpx.Client:
        return loopback_http.client(
            base_url=f"http://127.0.0.1:{self.admin_port}",
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            timeout=10.0,
        )

    def wait_healthy(self) -> ControlPlane:
        def healthy() -> bool:
            self.check_alive()
            return (
                loopback_http.get(f"http://127.0.0.1:{self.admin_port}/health").status_code == 200
            )

        until(healthy, f"{self.name} /health", START_TIMEOUT)
        return self

    def nodes(self) -> dict[str, dict[str, Any]]:
        with self.admin() as admin:
            answer = admin.get("/api/v1/nodes")
            answer.raise_for_status()
            return {node["id"]: node for node in answer.json()["items"]}

    def latest_version(self) -> int:
        with self.admin() as admin:
            answer = admin.get("/api/v1/releases", params={"limit": 1})
            answer.raise_for_status()
            items = answer.json()["items"]
            return int(items[0]["version"]) if items else 0

    def metric(self, name: str) -> float:
        text = loopback_http.get(f"http://127.0.0.1:{self.admin_port}/metrics").text
        for line in text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return 0.0


class Node(Process):
    def __init__(
        self,
        tmp: Path,
        node_id: str,
        control_planes: list[str],
        *,
        cluster_token: str = CLUSTER_TOKEN,
        extra: tuple[str, ...] = (),
    ) -> None:
        self.node_id = node_id
        self.port = free_port()
        self.status_port = free_port()
        self.cache_dir = tmp / f"cache-{node_id}"
        super().__init__(
            node_id,
            [
                "data-plane",
                "--listen",
                f"127.0.0.1:{self.port}",
                "--status-listen",
                f"127.0.0.1:{self.status_port}",
                "--control-plane",
                ",".join(control_planes),
                "--cache-dir",
                str(self.cache_dir),
                "--workers",
                "1",
                "--node-id",
                node_id,
                *extra,
            ],
            tmp / f"{node_id}.log",
            environment(
                FLEETGATE_CLUSTER_TOKEN=cluster_token,
                # What the tests wait for comes in a status report (every 10 s otherwise)
                # or after a reconnect (backing off up to 10 s otherwise).
                FLEETGATE_STATUS_INTERVAL=str(STATUS_INTERVAL),
                FLEETGATE_RECONNECT_MAX_DELAY=str(RECONNECT_MAX_DELAY),
            ),
        )

    def ready(self) -> bool:
        self.check_alive()
        return loopback_http.get(f"http://127.0.0.1:{self.status_port}/ready").status_code == 200

    def wait_ready(self) -> Node:
        until(self.ready, f"{self.node_id} /ready", START_TIMEOUT)
        return self

    def get(self, path: str) -> httpx.Response:
        return loopback_http.get(f"http://127.0.0.1:{self.port}{path}", timeout=5.0)

    def serves(self, path: str) -> bool:
        return self.get(path).status_code == 200


@contextlib.contextmanager
def upstream() -> Iterator[str]:
    """The demo echo server on a loopback port, on a thread of its own."""
    loop = asyncio.new_event_loop()
    started = threading.Event()
    holder: dict[str, Any] = {}

    async def serve() -> None:
        server = await start_echo()
        holder["server"] = server
        holder["address"] = f"127.0.0.1:{server.sockets[0].getsockname()[1]}"
        started.set()
        with contextlib.suppress(asyncio.CancelledError):
            await server.serve_forever()

    thread = threading.Thread(target=lambda: loop.run_until_complete(serve()), daemon=True)
    thread.start()
    assert started.wait(10), "the test upstream did not start"
    try:
        yield holder["address"]
    finally:
        loop.call_soon_threadsafe(holder["server"].close)
        thread.join(10)


@contextlib.contextmanager
def running(*processes: Process) -> Iterator[None]:
    """Stop every process at the end, and show their logs when the test failed."""
    try:
        yield
    except BaseException:
        for process in processes:
            print(f"----- {process.name} log -----\n{process.log_tail()}", file=sys.stderr)
        raise
    finally:
        for process in processes:
            process.stop()
