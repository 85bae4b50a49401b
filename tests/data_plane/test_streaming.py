"""Bodies stream through the node chunk by chunk, with back-pressure both ways.

A 1 GiB body goes through each way, framed by Content-Length and chunked, generated
and consumed incrementally on both ends, while the worker's resident memory stays
flat: its peak (VmHWM, reset before the transfer) may grow by less than
`MEMORY_GROWTH` over its resident size before the transfer. A slow reader on one
side must stop the node reading from the other side: what the writing side manages
to hand over stays bounded by socket buffers, not by the body's size.
"""

from __future__ import annotations

import functools
import socket
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import httptools
import pytest

from tests.data_plane.running_node import RunningNode, read_response
from tests.data_plane.scripted_upstream import HoldBody, ScriptedUpstream, StreamBody, pattern

pytestmark = pytest.mark.e2e

GIB = 1 << 30
BLOCK = pattern(1 << 20)  # what the client sends, 1 MiB at a time
MEMORY_GROWTH = 64 << 20
SLOW_BODY = 512 << 20  # what a buffering proxy would take in whole from the writer
IN_FLIGHT = 64 << 20  # socket buffers and the node's write buffers stay well under this
POLL = 0.05  # seconds between two looks at a transfer's progress
STALL_POLLS = 20  # polls with no progress: the writer is blocked
# The short-read route's read timeout: long enough that the scripted upstream (a thread
# of this loaded test process) never stalls for it while the client reads; a client's
# pause is made PAUSE_TIMEOUTS times as long.
READ_TIMEOUT = 1.0
PAUSE_TIMEOUTS = 3


@pytest.fixture(scope="module")
def node(
    upstream: ScriptedUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningNode]:
    yield from run_node(upstream, tmp_path_factory)


def run_node(
    upstream: ScriptedUpstream,
    tmp_path_factory: pytest.TempPathFactory,
    env: dict[str, str] | None = None,
) -> Iterator[RunningNode]:
    config = {
        "services": [{"name": "app", "targets": [{"address": upstream.address}]}],
        "routes": [
            {"name": "all", "paths": ["/**"], "service": "app", "max_body_bytes": 2 * GIB},
            {
                "name": "short-read",
                "paths": ["/short-read/**"],
                "service": "app",
                "timeouts": {"read": READ_TIMEOUT},
            },
        ],
    }
    running = RunningNode(tmp_path_factory.mktemp("node"), config, env=env or {}).start()
    yield running
    running.stop()


@pytest.fixture
def worker(node: RunningNode, scripted: ScriptedUpstream) -> int:
    """The pid of the node's one worker, warmed up by a request the upstream then forgets."""
    (pid,) = node.wait_workers(1)
    assert node.request(b"GET /warm-up HTTP/1.1\r\nHost: gw.test\r\n\r\n").status == 200
    scripted.clear()
    return pid


@functools.cache
def pattern_crc(length: int) -> int:
    """The CRC-32 of `length` bytes of the generated pattern (whole MiB only)."""
    assert length % len(BLOCK) == 0
    crc = 0
    for _ in range(length // len(BLOCK)):
        crc = zlib.crc32(BLOCK, crc)
    return crc


# ---------------------------------------------------------------- memory


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for pid {pid}")


class PeakMemory:
    """The growth of a process's peak resident memory over its size when entered."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.before = 0
        self.peak = 0

    def __enter__(self) -> PeakMemory:
        Path(f"/proc/{self.pid}/clear_refs").write_text("5")  # VmHWM := VmRSS
        self.before = _status_kib(self.pid, "VmRSS") * 1024
        return self

    def __exit__(self, *exc: object) -> None:
        self.peak = _status_kib(self.pid, "VmHWM") * 1024

    @property
    def growth(self) -> int:
        return self.peak - self.before

    def __repr__(self) -> str:
        return (
            f"<PeakMemory pid={self.pid} before={self.before >> 10} KiB peak={self.peak >> 10} KiB>"
        )


# ---------------------------------------------------------------- the client's side


class BodyDigest:
    """httptools callbacks keeping a response's status and its body's length and CRC only."""

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.headers: dict[str, str] = {}
        self.status = 0
        self.length = 0
        self.crc = 0
        self.complete = False

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()

    def on_body(self, body: bytes) -> None:
        self.length += len(body)
        self.crc = zlib.crc32(body, self.crc)

    def on_message_complete(self) -> None:
        self.complete = True


def receive(sock: socket.socket, digest: BodyDigest, limit: int | None = None) -> int:
    """Feed `digest` from `sock` until the response is whole (or `limit` bytes); bytes read."""
    buffer = bytearray(1 << 20)
    view = memoryview(buffer)
    total = 0
    while not digest.complete and (limit is None or total < limit):
        size = len(buffer) if limit is None else min(len(buffer), limit - total)
        count = sock.recv_into(buffer, size)
        if not count:
            raise ConnectionError(f"the connection closed after {total} bytes")
        digest.parser.feed_data(view[:count])
        total += count
    return total


def send_body(sock: socket.socket, length: int, *, chunked: bool) -> None:
    for _ in range(length // len(BLOCK)):
        if chunked:
            sock.sendall(b"%x\r\n" % len(BLOCK) + BLOCK + b"\r\n")
        else:
            sock.sendall(BLOCK)
    if chunked:
        sock.sendall(b"0\r\n\r\n")


def until_stalled(
    progress: Callable[[], int], timeout: float = 60.0, polls: int = STALL_POLLS
) -> int:
    """The value of `progress` once it stopped growing for `polls` polls (bounded)."""
    deadline = time.monotonic() + timeout
    last, unchanged = -1, 0
    while time.monotonic() < deadline:
        value = progress()
        unchanged = unchanged + 1 if value == last and value > 0 else 0
        if unchanged >= polls:
            return value
        last = value
        time.sleep(POLL)
    raise AssertionError(f"still moving after {timeout} s: {progress()}")


def small_window_connection(node: RunningNode) -> socket.socket:
    """A client connection whose receive buffer is small, set before the window is agreed."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 128 * 1024)
    sock.settimeout(60)
    sock.connect(("127.0.0.1", node.port))
    return sock


# ---------------------------------------------------------------- 1 GiB each way

FRAMINGS = pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])


@FRAMINGS
def test_a_1_gib_upload_streams_through_in_flat_memory(
    node: RunningNode, scripted: ScriptedUpstream, worker: int, chunked: bool
) -> None:
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {GIB}"
    with node.connect(timeout=60) as sock, PeakMemory(worker) as memory:
        sock.sendall(f"POST /upload HTTP/1.1\r\nHost: gw.test\r\n{framing}\r\n\r\n".encode())
        send_body(sock, GIB, chunked=chunked)
        response = read_response(sock)
    assert response.status == 200
    (request,) = scripted.wait_for(1)
    assert request.complete
    assert (request.body_length, request.body_crc) == (GIB, pattern_crc(GIB))
    assert memory.growth < MEMORY_GROWTH, memory


@FRAMINGS
def test_a_1_gib_download_streams_through_in_flat_memory(
    node: RunningNode, scripted: ScriptedUpstream, worker: int, chunked: bool
) -> None:
    scripted.script = lambda r: StreamBody(GIB, chunk=1 << 20, chunked=chunked)
    digest = BodyDigest()
    with node.connect(timeout=60) as sock, PeakMemory(worker) as memory:
        sock.sendall(b"GET /download HTTP/1.1\r\nHost: gw.test\r\n\r\n")
        receive(sock, digest)
    assert digest.status == 200
    assert digest.headers.get("transfer-encoding") == ("chunked" if chunked else None)
    assert (digest.length, digest.crc) == (GIB, pattern_crc(GIB))
    assert memory.growth < MEMORY_GROWTH, memory


# ---------------------------------------------------------------- slow readers


def test_a_client_that_stops_reading_stops_the_node_reading_the_upstream(
    node: RunningNode, scripted: ScriptedUpstream, worker: int
) -> None:
    scripted.script = lambda r: StreamBody(SLOW_BODY)
    digest = BodyDigest()
    with small_window_connection(node) as sock, PeakMemory(worker) as memory:
        sock.sendall(b"GET /slow-reader HTTP/1.1\r\nHost: gw.test\r\n\r\n")
        taken = receive(sock, digest, limit=1 << 20)
        written = until_stalled(lambda: scripted.bytes_written)
        receive(sock, digest)  # reading again: the rest follows
    assert written - taken < IN_FLIGHT, f"the upstream wrote {written} B, the client took {taken}"
    assert (digest.length, digest.crc) == (SLOW_BODY, pattern_crc(SLOW_BODY))
    assert memory.growth < MEMORY_GROWTH, memory


def test_an_upstream_that_stops_reading_stops_the_node_reading_the_client(
    node: RunningNode, scripted: ScriptedUpstream, worker: int
) -> None:
    hold = HoldBody()
    scripted.script = lambda r: hold
    sent = [0]
    failures: list[BaseException] = []

    def upload(sock: socket.socket) -> None:
        try:
            for _ in range(SLOW_BODY // len(BLOCK)):
                sock.sendall(BLOCK)
                sent[0] += len(BLOCK)
        except BaseException as exc:  # reported by the test thread
            failures.append(exc)

    with node.connect(timeout=60) as sock, PeakMemory(worker) as memory:
        sock.sendall(
            f"POST /slow-upstream HTTP/1.1\r\nHost: gw.test\r\nContent-Length: {SLOW_BODY}"
            "\r\n\r\n".encode()
        )
        uploader = threading.Thread(target=upload, args=(sock,), daemon=True)
        uploader.start()
        accepted = until_stalled(lambda: sent[0])
        hold.release.set()
        uploader.join(60)
        response = read_response(sock)
    assert not failures and not uploader.is_alive()
    assert accepted < IN_FLIGHT, f"the node took {accepted} bytes of a body it could not forward"
    assert (response.status, response.body) == (200, str(SLOW_BODY).encode())
    (request,) = scripted.wait_for(1)
    assert (request.body_length, request.body_crc) == (SLOW_BODY, pattern_crc(SLOW_BODY))
    assert memory.growth < MEMORY_GROWTH, memory


def test_a_client_pausing_longer_than_the_read_timeout_is_not_cut(
    node: RunningNode, scripted: ScriptedUpstream, worker: int
) -> None:
    scripted.script = lambda r: StreamBody(64 << 20)
    digest = BodyDigest()
    with small_window_connection(node) as sock:
        sock.sendall(b"GET /short-read/pause HTTP/1.1\r\nHost: gw.test\r\n\r\n")
        receive(sock, digest, limit=1 << 20)
        # The upstream is blocked (the node stopped reading it) for three read timeouts.
        pause_polls = round(PAUSE_TIMEOUTS * READ_TIMEOUT / POLL)
        until_stalled(lambda: scripted.bytes_written, polls=pause_polls)
        receive(sock, digest)
    assert (digest.length, digest.crc) == (64 << 20, pattern_crc(64 << 20))
    assert node.metric("fleetgate_upstream_timeouts_total", service="app", kind="read") == 0


@pytest.fixture
def impatient_node(
    upstream: ScriptedUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningNode]:
    """A node that gives an idle client one second."""
    yield from run_node(upstream, tmp_path_factory, env={"FLEETGATE_IDLE_TIMEOUT": "1"})


def test_a_client_that_takes_nothing_for_the_idle_timeout_is_cut(
    impatient_node: RunningNode, scripted: ScriptedUpstream
) -> None:
    scripted.script = lambda r: StreamBody(64 << 20)
    digest = BodyDigest()
    with small_window_connection(impatient_node) as sock:
        sock.sendall(b"GET /stalled HTTP/1.1\r\nHost: gw.test\r\n\r\n")
        receive(sock, digest, limit=1 << 20)
        labels = {"route": "all", "service": "app", "code": "4xx"}
        deadline = time.monotonic() + 30
        while impatient_node.metric("fleetgate_requests_total", **labels) < 1:
            assert time.monotonic() < deadline, "the stalled client was never cut"
            time.sleep(0.05)
        with pytest.raises(ConnectionError):
            receive(sock, digest)
    assert digest.length < 64 << 20 and not digest.complete
