"""Rate limits on real node processes: exact admission across workers, answers and fields."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from tests.data_plane.running_node import Response, RunningNode, read_response
from tests.data_plane.scripted_upstream import ScriptedUpstream

CONNECTIONS = 40
PER_CONNECTION = 6
LIMIT = 50

# draft-ietf-httpapi-ratelimit-headers-11: lists of a String with parameters
POLICY_ITEM = re.compile(r'"(?P<name>[A-Za-z0-9_-]+)";q=(?P<q>\d+);w=(?P<w>\d+)')
RATELIMIT_ITEM = re.compile(r'"(?P<name>[A-Za-z0-9_-]+)";r=(?P<r>\d+);t=(?P<t>\d+)')


def config(address: str) -> dict[str, Any]:
    service = {"name": "app", "targets": [{"address": address}]}
    return {
        "services": [service],
        "routes": [
            {
                "name": "burst",
                "paths": ["/burst/**"],
                "service": "app",
                "rate_limit": {"requests_per_hour": LIMIT, "by": "route"},
            },
            {
                "name": "per-client",
                "paths": ["/client/**"],
                "service": "app",
                "rate_limit": {
                    "requests_per_minute": 3,
                    "requests_per_hour": 100,
                    "by": "client_ip",
                },
            },
            {
                "name": "roomy",
                "paths": ["/roomy/**"],
                "service": "app",
                "rate_limit": {"requests_per_minute": 1000, "by": "client_ip"},
            },
            {"name": "free", "paths": ["/free/**"], "service": "app"},
        ],
    }


@pytest.fixture(scope="module")
def node(
    tmp_path_factory: pytest.TempPathFactory, upstream: ScriptedUpstream
) -> Iterator[RunningNode]:
    running = RunningNode(tmp_path_factory.mktemp("limits"), config(upstream.address), workers=2)
    running.start()
    running.wait_workers(2)
    yield running
    running.stop()


def burst(node: RunningNode, path: str) -> list[Response]:
    """CONNECTIONS clients at once, each sending PER_CONNECTION requests on its connection."""
    responses: list[Response] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(CONNECTIONS)

    def client() -> None:
        try:
            with node.connect() as sock:
                start.wait(10)
                for _ in range(PER_CONNECTION):
                    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: gw.test\r\n\r\n".encode())
                    response = read_response(sock)
                    with lock:
                        responses.append(response)
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=client) for _ in range(CONNECTIONS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, errors
    return responses


def test_a_two_worker_node_admits_exactly_the_limit_of_a_burst_over_many_connections(
    node: RunningNode, scripted: ScriptedUpstream
) -> None:
    responses = burst(node, "/burst/x")
    statuses = [r.status for r in responses]
    assert len(statuses) == CONNECTIONS * PER_CONNECTION
    assert statuses.count(200) == LIMIT  # one limit per node, not one per worker
    assert statuses.count(429) == len(statuses) - LIMIT
    assert len(scripted.requests) == LIMIT  # refused requests never reach the upstream
    assert (
        node.metric(
            "fleetgate_rate_limit_decisions_total",
            route="burst",
            policy="rate_limit",
            outcome="refused",
        )
        == len(statuses) - LIMIT
    )


def test_a_refusal_is_the_json_429_with_retry_after_and_the_ratelimit_fields(
    node: RunningNode, scripted: ScriptedUpstream
) -> None:
    answers = [node.get("/client/a") for _ in range(4)]
    assert [a.status for a in answers] == [200, 200, 200, 429]
    refused = answers[-1]
    assert refused.json()["error"]["code"] == "rate_limited"
    assert refused.json()["error"]["request_id"] == refused.header("X-Request-ID")
    retry_after = refused.header("Retry-After")
    assert retry_after is not None and re.fullmatch(r"[1-9]\d*", retry_after)
    assert 1 <= int(retry_after) <= 20  # the next of 3 per minute is at most 20 s away
    items = [POLICY_ITEM.fullmatch(item) for item in refused.header("RateLimit-Policy").split(", ")]
    assert [(m["name"], m["q"], m["w"]) for m in items if m] == [
        ("minute", "3", "60"),
        ("hour", "100", "3600"),
    ]
    tightest = RATELIMIT_ITEM.fullmatch(refused.header("RateLimit") or "")
    assert tightest is not None and (tightest["name"], tightest["r"]) == ("minute", "0")


def test_every_response_of_a_limited_route_carries_the_fields_and_others_do_not(
    node: RunningNode, scripted: ScriptedUpstream
) -> None:
    admitted = node.get("/roomy/x")
    assert admitted.status == 200
    assert admitted.header("RateLimit-Policy") == '"minute";q=1000;w=60'
    tightest = RATELIMIT_ITEM.fullmatch(admitted.header("RateLimit") or "")
    assert tightest is not None and tightest["name"] == "minute" and int(tightest["r"]) >= 990
    free = node.get("/free/x")
    assert free.status == 200
    assert free.header("RateLimit") is None and free.header("RateLimit-Policy") is None


def test_the_node_reports_the_keys_it_holds(node: RunningNode, scripted: ScriptedUpstream) -> None:
    node.get("/roomy/c")
    assert node.metric("fleetgate_rate_limit_keys") >= 1
    assert "fleetgate_rate_limit_evictions_total 0" in node.metrics()
