"""A real `fleetgate data-plane --config FILE` process on free loopback ports, for tests.

Started as a subprocess, it is ready when `/ready` answers 200 (polled, bounded).
Raw-socket helpers send exact bytes and read exact responses, so protocol tests see
what a client on the wire would see.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httptools
import yaml

from tests.conftest import free_port

READY_TIMEOUT = 20.0


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        values = [v for k, v in self.headers if k.lower() == name.lower()]
        return values[0] if values else None

    def json(self) -> Any:
        return json.loads(self.body)


def catch_all(address: str) -> dict[str, Any]:
    """A config sending every path to the one target at `address`."""
    return {
        "services": [{"name": "app", "targets": [{"address": address}]}],
        "routes": [{"name": "all", "paths": ["/**"], "service": "app"}],
    }


class RunningNode:
    """One node process; `config` is the declarative document it serves."""

    def __init__(
        self,
        directory: Path,
        config: dict[str, Any],
        *,
        workers: int = 1,
        env: dict[str, str] | None = None,
        https: bool = False,
        flags: tuple[str, ...] = (),
    ) -> None:
        self.directory = directory
        self.config_file = directory / "gateway.yaml"
        self.write_config(config)
        self.port = free_port()
        self.status_port = free_port()
        self.https_port = free_port() if https else 0  # 0: no HTTPS listener
        self.workers = workers
        self.env = env or {}
        self.flags = flags  # more data-plane flags
        self.log_file = directory / "node.log"
        self.process: subprocess.Popen[bytes] | None = None

    def write_config(self, config: dict[str, Any]) -> None:
        self.config_file.write_text(yaml.safe_dump(config))

    # ------------------------------------------------------------ lifecycle

    def start(self, *, wait: bool = True) -> RunningNode:
        with self.log_file.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "control_plane.cli",
                    "data-plane",
                    "--config",
                    str(self.config_file),
                    "--listen",
                    f"127.0.0.1:{self.port}",
                    "--status-listen",
                    f"127.0.0.1:{self.status_port}",
                    "--workers",
                    str(self.workers),
                    "--cache-dir",
                    str(self.directory / "cache"),
                    *(
                        ["--https-listen", f"127.0.0.1:{self.https_port}"]
                        if self.https_port
                        else []
                    ),
                    *self.flags,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **self.env},
            )
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(
                    f"the node exited with {self.process.returncode}:\n{self.log()}"
                )
            if self.status("/ready")[0] == 200:
                return
            time.sleep(0.05)
        raise AssertionError(f"the node was not ready within {timeout} s:\n{self.log()}")

    def stop(self, timeout: float = 20.0) -> int:
        process = self.process
        if process is None:
            return 0
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            return process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
            raise AssertionError(
                f"the node did not stop within {timeout} s:\n{self.log()}"
            ) from None

    def signal(self, signum: int) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    def log(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""

    # ------------------------------------------------------------ processes

    def worker_pids(self) -> list[int]:
        assert self.process is not None
        pids: list[int] = []
        for task in Path(f"/proc/{self.process.pid}/task").iterdir():
            children = (task / "children").read_text().split()
            pids.extend(int(pid) for pid in children)
        return pids

    def wait_workers(self, count: int, timeout: float = READY_TIMEOUT) -> list[int]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pids = self.worker_pids()
            if len(pids) == count:
                return pids
            time.sleep(0.05)
        raise AssertionError(f"the node did not run {count} workers:\n{self.log()}")

    @staticmethod
    def rss(pid: int) -> int:
        """Resident memory of `pid`, in bytes (VmRSS of /proc/<pid>/status)."""
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise AssertionError(f"no VmRSS for pid {pid}")

    # ------------------------------------------------------------ status server

    def status(self, path: str) -> tuple[int, bytes]:
        url = f"http://127.0.0.1:{self.status_port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                return answer.status, answer.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return 0, b""

    def metrics(self) -> str:
        status, body = self.status("/metrics")
        assert status == 200, body
        return body.decode()

    def metric(self, name: str, **labels: str) -> float:
        """The value of one sample of /metrics (0 when absent)."""
        wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        key = f"{name}{{{wanted}}}" if labels else name
        for line in self.metrics().splitlines():
            if line.startswith("#"):
                continue
            sample, _, value = line.rpartition(" ")
            if sample == key:
                return float(value)
        return 0.0

    # ------------------------------------------------------------ raw HTTP

    def connect(self, timeout: float = 10.0) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def request(self, data: bytes, *, head: bool = False, timeout: float = 10.0) -> Response:
        """Send `data` on a new connection and read one response."""
        with self.connect(timeout) as sock:
            sock.sendall(data)
            return read_response(sock, head=head)

    def get(self, path: str, headers: dict[str, str] | None = None) -> Response:
        fields = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        return self.request(f"GET {path} HTTP/1.1\r\nHost: gw.test\r\n{fields}\r\n".encode())


class _ResponseReader:
    """Collects final responses in order; interim 1xx responses are counted and skipped."""

    def __init__(self) -> None:
        self.responses: list[Response] = []
        self.headers: list[tuple[str, str]] = []
        self.body = bytearray()
        self.status = 0
        self.interim = 0
        self.parser = httptools.HttpResponseParser(self)

    def on_message_begin(self) -> None:
        self.headers = []
        self.body = bytearray()
        self.status = 0

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if 100 <= status < 200 and status != 101:
            self.interim += 1
        else:
            self.status = status

    def on_body(self, body: bytes) -> None:
        self.body += body

    def on_message_complete(self) -> None:
        if self.status:
            self.responses.append(Response(self.status, self.headers, bytes(self.body)))
            self.status = 0


def read_responses(
    sock: socket.socket, count: int, *, interim: list[int] | None = None
) -> list[Response]:
    """Read `count` responses from `sock`, in order (interim 1xx responses skipped).

    `interim` gets the number of interim responses seen.
    """
    reader = _ResponseReader()
    while len(reader.responses) < count:
        data = sock.recv(1 << 16)
        if not data:
            if reader.status:  # a close-delimited body ends here
                reader.responses.append(Response(reader.status, reader.headers, bytes(reader.body)))
                continue
            raise ConnectionError(
                f"the connection closed after {len(reader.responses)} of {count} responses"
            )
        try:
            reader.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            reader.responses.append(Response(reader.status, reader.headers, b""))
    if interim is not None:
        interim.append(reader.interim)
    return reader.responses


def read_response(sock: socket.socket, *, head: bool = False) -> Response:
    """Read one response; `head`: the answer to HEAD, whose body is absent whatever it says."""
    if not head:
        return read_responses(sock, 1)[0]
    response, rest = read_switch(sock)
    assert not rest, f"a response to HEAD carried a body: {rest[:80]!r}"
    return response


def read_switch(sock: socket.socket) -> tuple[Response, bytes]:
    """Read a response head alone (a 101, or the answer to HEAD); returns it with the
    bytes that came after it."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(1 << 16)
        if not chunk:
            raise ConnectionError("the connection closed before the response head")
        data += chunk
    head_bytes, _, rest = data.partition(b"\r\n\r\n")
    status_line, *lines = head_bytes.decode("latin-1").split("\r\n")
    headers = [(k, v.strip()) for k, _, v in (line.partition(":") for line in lines)]
    return Response(int(status_line.split()[1]), headers, b""), rest


def read_all(sock: socket.socket, limit: int = 1 << 20) -> bytes:
    """Everything `sock` sends until it closes (bounded by the socket timeout)."""
    data = bytearray()
    while len(data) < limit:
        chunk = sock.recv(1 << 16)
        if not chunk:
            break
        data += chunk
    return bytes(data)


def is_closed(sock: socket.socket, timeout: float = 5.0) -> bool:
    """Whether the peer closed `sock` (EOF or reset) within `timeout`, reading what remains."""
    sock.settimeout(timeout)
    try:
        while sock.recv(1 << 16):
            pass
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
    return True


class _Digest:
    """What a response parser saw of a response that may be cut short."""

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.status = 0
        self.body = 0
        self.complete = False

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()

    def on_body(self, body: bytes) -> None:
        self.body += len(body)

    def on_message_complete(self) -> None:
        self.complete = True


def read_until_cut(sock: socket.socket) -> tuple[bytes, _Digest]:
    """Everything the node sends until it ends the connection, and that parsed."""
    data = bytearray()
    sock.settimeout(10)
    try:
        while chunk := sock.recv(1 << 16):
            data += chunk
    except ConnectionResetError:
        pass
    digest = _Digest()
    with contextlib.suppress(httptools.HttpParserError):
        digest.parser.feed_data(bytes(data))
    return bytes(data), digest
