"""What a worker holds comes back: requests that break while their upstream connect is
in flight leave no socket behind, counted in the worker's `/proc/PID/fd`.

The malformed part of each request arrives in the same read as its head, so the
exchange has already started its upstream connect when the framing turns out bad:
the connect completes after the 400 or 413 went out, with no one to take it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest

from tests.data_plane.running_node import RunningNode, is_closed, read_response
from tests.data_plane.scripted_upstream import ScriptedUpstream

pytestmark = pytest.mark.e2e

REQUESTS = 200


@pytest.fixture(scope="module")
def node(
    upstream: ScriptedUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningNode]:
    config = {
        "services": [{"name": "app", "targets": [{"address": upstream.address}]}],
        "routes": [
            {"name": "all", "paths": ["/**"], "service": "app"},
            {"name": "small", "paths": ["/small/**"], "service": "app", "max_body_bytes": 16},
        ],
    }
    running = RunningNode(tmp_path_factory.mktemp("node"), config).start()
    yield running
    running.stop()


def open_descriptors(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def settled_descriptors(pid: int, at_most: int, timeout: float = 15.0) -> int:
    """The worker's open descriptors, once they are `at_most` or the time is up."""
    deadline = time.monotonic() + timeout
    count = open_descriptors(pid)
    while count > at_most and time.monotonic() < deadline:
        time.sleep(0.05)
        count = open_descriptors(pid)
    return count


MALFORMED = {
    # A chunk size that is not hex: 400 in the read that also carried the head.
    "bad-chunk-size": (
        b"POST /x HTTP/1.1\r\nHost: gw.test\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n",
        400,
    ),
    # A chunked body that grows past the route's 16 bytes: 413 mid-body.
    "413-mid-body": (
        b"POST /small/x HTTP/1.1\r\nHost: gw.test\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"8\r\n12345678\r\n10\r\n" + b"y" * 16 + b"\r\n",
        413,
    ),
}


@pytest.mark.parametrize("request_bytes,status", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_bodies_during_the_upstream_connect_leave_no_socket_open(
    node: RunningNode, scripted: ScriptedUpstream, request_bytes: bytes, status: int
) -> None:
    (worker,) = node.wait_workers(1)
    # No idle pooled connection to reuse: every request below opens one of its own.
    deadline = time.monotonic() + 15
    while node.metric("fleetgate_upstream_idle_connections", service="app"):
        assert time.monotonic() < deadline, "the pool kept its idle connections"
        time.sleep(0.1)
    before = open_descriptors(worker)
    for _ in range(REQUESTS):
        with node.connect() as sock:
            sock.sendall(request_bytes)
            assert read_response(sock).status == status
            assert is_closed(sock)
    after = settled_descriptors(worker, at_most=before)
    assert after <= before, f"{after - before} descriptors left open after {REQUESTS} requests"
    assert node.get("/after").status == 200  # and the worker still serves
