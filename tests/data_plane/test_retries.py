"""A service's retries on real processes: what is sent again, with which body, where, and
how many a retry storm gets (DESIGN.md, "Resilience"; issue 13, point 3).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from tests.data_plane.running_node import RunningNode, read_response, read_until_cut
from tests.data_plane.scripted_upstream import (
    Received,
    ResetMidBody,
    Respond,
    ScriptedUpstream,
    Silence,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def other() -> Iterator[ScriptedUpstream]:
    """A second upstream, for a service with two targets."""
    with ScriptedUpstream() as server:
        yield server


@pytest.fixture(scope="module")
def node(
    upstream: ScriptedUpstream, other: ScriptedUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningNode]:
    target = [{"address": upstream.address}]
    config = {
        "services": [
            {"name": "idem", "targets": target, "retries": 2},
            {"name": "posts", "targets": target, "retries": 1, "retry_non_idempotent": True},
            {
                "name": "per-try",
                "targets": target,
                "retries": 1,
                "timeouts": {"per_try": 0.3, "read": 30},
            },
            {"name": "one-try", "targets": target, "timeouts": {"per_try": 0.3, "read": 30}},
            {"name": "slow", "targets": target, "retries": 2, "timeouts": {"read": 0.3}},
            {
                "name": "pair",
                "targets": [{"address": upstream.address}, {"address": other.address}],
                "retries": 1,
            },
        ],
        "routes": [
            {"name": name, "paths": [f"/{name}/**"], "service": name}
            for name in ("idem", "posts", "per-try", "one-try", "slow", "pair")
        ],
    }
    running = RunningNode(tmp_path_factory.mktemp("node"), config).start()
    yield running
    running.stop()


def echo_body(request: Received) -> Respond:
    return Respond(body=bytes(request.body))


# ---------------------------------------------------------------- what is sent again


def test_an_idempotent_request_answered_503_is_sent_again_with_its_body(
    node: RunningNode, scripted: ScriptedUpstream
) -> None:
    answers = iter([Respond(status=503)])
    scripted.script = lambda r: next(answers, None) or echo_body(r)
    response = node.request(
        b"PUT /idem/x HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 7\r\n\r\npayload"
    )
    assert (response.status, response.body) == (200, b"payload")
    first, second = scripted.wait_for(2)
    assert bytes(first.body) == bytes(second.body) == b"payload"
    assert second.header("content-length") == "7"


def test_a_chunked_body_is_held_and_sent_again_whole(
    node: RunningNode, scripted: ScriptedUpstream
) -> None:
    answers = iter([Respond(status=502)])
    scripted.script = lambda r: next(answers, None) or echo_body(r)
    with node.connect() as sock:
        sock.sendall(
            b"PUT /idem/c HTTP/1.1\r\nHost: gw.test\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
        )
        assert read_response(sock).body == b"hello world"
    first, second = scripted.wait_for(2)
    assert (bytes(first.body), bytes(second.body)) == (b"hello world", b"hello world")
    assert second.header("transfer-encoding") == "chunked" and second.complete


def test_a_body_over_64_kib_is_not_held_so_not_sent_again(
    node: RunningNode, scripted: ScriptedUpstream
) -> None:
    scripted.script = lambda r: Respond(status=503)
    body = b"b" * (64 * 1024 + 1)
    response = node.request(
        b"PUT /idem/big HTTP/1.1\r\nHost: gw.test\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    )
    assert response.status == 503
    assert len(scripted.wait_for(1)) == 1
    assert len(scripted.received()) == 1


def test_a_post_is_sent_again_only_when_the_service_says_so(
    node: RunningNode, scripted: ScriptedUpstream
) -> None:
    post = b"POST /%s/x HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 4\r\n\r\ndata"
    scripted.script = lambda r: Respond(status=503)
    assert node.request(post % b"idem").status == 503
    assert len(scripted.wait_for(1)) == 1
    scripted.clear()
    answers = iter([Respond(status=503)])
    scripted.script = lambda r: next(answers, None) or echo_body(r)
    response = node.request(post % b"posts")
    assert (response.status, response.body) == (200, b"data")
    assert [bytes(r.body) for r in scripted.wait_for(2)] == [b"data", b"data"]


def test_a_retry_goes_to_another_target_when_there_is_one(
    node: RunningNode, scripted: ScriptedUpstream, other: ScriptedUpstream
) -> None:
    scripted.script = lambda r: Respond(status=503)
    other.script = lambda r: Respond(body=b"from the other")
    other.clear()
    # Round robin: a retry takes a turn too, so most requests meet the failing target
    # first; at most three retries fit the budget's steady 3 a second.
    for i in range(3):
        response = node.request(f"GET /pair/{i} HTTP/1.1\r\nHost: gw.test\r\n\r\n".encode())
        assert (response.status, response.body) == (200, b"from the other")
    assert len(scripted.received()) >= 2  # each of those was answered by the other
    assert len(other.wait_for(3)) == 3


# ---------------------------------------------------------------- per-try time


def test_a_try_with_no_answer_in_its_per_try_time_is_retried(
    node: RunningNode, scripted: ScriptedUpstream
) -> None:
    answers = iter([Silence()])
    scripted.script = lambda r: next(answers, None) or Respond(body=b"second try")
    labels = {"service": "per-try", "kind": "per_try"}
    before = node.metric("fleetgate_upstream_timeouts_total", **labels)
    response = node.request(b"GET /per-try/x HTTP/1.1\r\nHost: gw.test\r\n\r\n")
    assert (response.status, response.body) == (200, b"second try")
    assert len(scripted.wait_for(2)) == 2
    assert node.metric("fleetgate_upstream_timeouts_total", **labels) == before + 1


def test_a_per_try_timeout_without_retries_left_is_504(
    node: RunningNode, scripted: ScriptedUpstream
) -> None:
    scripted.script = lambda r: Silence()
    response = node.request(b"GET /one-try/x HTTP/1.1\r\nHost: gw.test\r\n\r\n")
    assert response.status == 504
    assert "per-try" in response.json()["error"]["message"]


# ---------------------------------------------------------------- never


def test_nothing_is_sent_again_once_a_response_byte_reached_the_client(
    node: RunningNode, scripted: ScriptedUpstream
) -> None:
    scripted.script = lambda r: ResetMidBody(length=100_000, sent=1_000)
    with node.connect() as sock:
        sock.sendall(b"GET /idem/cut HTTP/1.1\r\nHost: gw.test\r\n\r\n")
        _, digest = read_until_cut(sock)
    assert digest.status == 200 and not digest.complete
    assert len(scripted.received()) == 1


def test_a_read_timeout_is_never_retried(node: RunningNode, scripted: ScriptedUpstream) -> None:
    scripted.script = lambda r: Silence()
    response = node.request(b"GET /slow/x HTTP/1.1\r\nHost: gw.test\r\n\r\n")
    assert response.status == 504
    assert len(scripted.received()) == 1


# ---------------------------------------------------------------- the budget


CLIENTS = 4
REQUESTS_EACH = 150


def test_a_retry_storm_stays_within_the_nodes_retry_budget(
    upstream: ScriptedUpstream, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Every answer is 503 and each request may be retried three times: without a budget
    the upstream would see four times the load. With it, the retries it sees are at most
    20% of the requests plus 3 a second for the node (two workers sharing it)."""
    upstream.script = lambda r: Respond(status=503)
    upstream.clear()
    config = {
        "services": [{"name": "storm", "targets": [{"address": upstream.address}], "retries": 3}],
        "routes": [{"name": "storm", "paths": ["/**"], "service": "storm"}],
    }
    node = RunningNode(tmp_path_factory.mktemp("storm"), config, workers=2).start()
    try:
        node.wait_workers(2)
        failures: list[str] = []

        def client() -> None:
            with node.connect() as sock:
                for _ in range(REQUESTS_EACH):
                    sock.sendall(b"GET /storm HTTP/1.1\r\nHost: gw.test\r\n\r\n")
                    status = read_response(sock).status
                    if status != 503:
                        failures.append(f"status {status}")

        started = time.monotonic()
        clients = [threading.Thread(target=client) for _ in range(CLIENTS)]
        for thread in clients:
            thread.start()
        for thread in clients:
            thread.join(60)
        elapsed = time.monotonic() - started
        assert failures == []
        requests = CLIENTS * REQUESTS_EACH
        retries = len(upstream.wait_for(requests)) - requests
        budget = 0.2 * requests + 3 * elapsed + 3  # the share, the steady rate, one burst
        assert 0 < retries <= budget, f"{retries} retries for {requests} requests in {elapsed} s"
        # Each retry the upstream saw was counted; one whose attempt failed before
        # reaching it (a pooled connection the upstream closed, on a loaded machine) is
        # counted too, and is within the budget all the same.
        counted = node.metric("fleetgate_upstream_retries_total", service="storm")
        assert retries <= counted <= budget
        assert node.metric("fleetgate_upstream_retry_budget_exhausted_total", service="storm") > 0
    finally:
        node.stop()
        upstream.script = lambda r: Respond()
