"""Tiers on a real 2-worker node, callers known by API key: windows shared by the tenant,
monthly quota, concurrency cap, and priority shedding at a service's bulkhead."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.data_plane.running_node import Response, RunningNode, read_response
from tests.data_plane.scripted_upstream import HoldBody, Received, Respond, ScriptedUpstream

KEYS = {name: f"{name}-key-0123456789abcdef" for name in ("a1", "a2", "q", "c", "f", "p")}


def config(address: str) -> dict[str, Any]:
    auth = {"methods": ["api_key"]}

    def route(name: str, service: str = "app", **rate_limit: Any) -> dict[str, Any]:
        return {
            "name": name,
            "paths": [f"/{name}/**"],
            "service": service,
            "auth": auth,
            "rate_limit": {"use_tier": True, **rate_limit},
        }

    def consumer(name: str, tenant: str) -> dict[str, Any]:
        return {"name": name, "tenant": tenant, "api_keys": [{"id": "k", "key": KEYS[name]}]}

    return {
        "services": [
            {"name": "app", "targets": [{"address": address}]},
            {"name": "busy", "targets": [{"address": address}], "max_concurrent_requests": 4},
        ],
        "routes": [
            route("one", requests_per_minute=100),
            route("two", requests_per_minute=100),
            route("plain"),
            route("busy", service="busy"),
        ],
        "tiers": [
            {"name": "FREE", "requests_per_minute": 3, "priority": 0},
            {"name": "METERED", "monthly_quota": 2},
            {"name": "SINGLE", "max_concurrent_requests": 1},
            {"name": "LOW", "priority": 0},
            {"name": "PRO", "requests_per_minute": 1000, "priority": 10},
        ],
        "tenants": [
            {"name": "acme", "tier": "FREE"},
            {"name": "meter", "tier": "METERED"},
            {"name": "solo", "tier": "SINGLE"},
            {"name": "flood", "tier": "LOW"},
            {"name": "gold", "tier": "PRO"},
        ],
        "consumers": [
            consumer("a1", "acme"),
            consumer("a2", "acme"),
            consumer("q", "meter"),
            consumer("c", "solo"),
            consumer("f", "flood"),
            consumer("p", "gold"),
        ],
    }


@pytest.fixture(scope="module")
def node(
    tmp_path_factory: pytest.TempPathFactory, upstream: ScriptedUpstream
) -> Iterator[RunningNode]:
    running = RunningNode(tmp_path_factory.mktemp("tiers"), config(upstream.address), workers=2)
    running.start()
    running.wait_workers(2)
    yield running
    running.stop()


def get(node: RunningNode, path: str, consumer: str) -> Response:
    return node.get(path, {"x-api-key": KEYS[consumer]})


def held_post(node: RunningNode, path: str, consumer: str) -> socket.socket:
    """A request the upstream holds (it stops reading the body) until released."""
    sock = node.connect()
    sock.sendall(
        f"POST {path} HTTP/1.1\r\nHost: gw.test\r\nx-api-key: {KEYS[consumer]}\r\n"
        "Content-Length: 1\r\n\r\n1".encode()
    )
    return sock


def served_soon(node: RunningNode, path: str, consumer: str) -> bool:
    """Whether a request is served within a few seconds: a slot is given back when its
    exchange ends, just after the response's last bytes were written to the client."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if get(node, path, consumer).status == 200:
            return True
        time.sleep(0.02)
    return False


def assert_error(response: Response, status: int, code: str) -> None:
    assert response.status == status
    assert response.json()["error"]["code"] == code
    retry_after = response.header("Retry-After")
    assert retry_after is not None and int(retry_after) >= 1


def test_a_tier_window_is_shared_by_the_tenant_across_consumers_and_routes(
    node: RunningNode, scripted: ScriptedUpstream
) -> None:
    answers = [get(node, "/one/x", "a1"), get(node, "/two/x", "a2"), get(node, "/one/x", "a2")]
    assert [a.status for a in answers] == [200, 200, 200]
    assert answers[0].header("RateLimit-Policy") == '"minute";q=100;w=60, "FREE-minute";q=3;w=60'
    refused = get(node, "/two/x", "a1")
    assert_error(refused, 429, "rate_limited")
    assert refused.header("RateLimit") == '"FREE-minute";r=0;t=60'
    assert [r.header("x-consumer") for r in scripted.requests] == ["a1", "a2", "a2"]


def test_a_tenant_gets_its_monthly_quota_then_quota_exceeded(
    node: RunningNode, scripted: ScriptedUpstream
) -> None:
    assert [get(node, "/plain/x", "q").status for _ in range(2)] == [200, 200]
    refused = get(node, "/plain/x", "q")
    assert_error(refused, 429, "quota_exceeded")
    assert int(refused.header("Retry-After") or 0) <= 31 * 86_400  # the next month's start
    assert (
        node.metric(
            "fleetgate_rate_limit_decisions_total", route="plain", policy="quota", outcome="refused"
        )
        == 1
    )


def test_a_tenant_at_its_concurrency_cap_gets_too_many_concurrent_requests(
    node: RunningNode, scripted: ScriptedUpstream
) -> None:
    hold = HoldBody()
    scripted.script = lambda r: hold if r.method == "POST" else Respond()
    with held_post(node, "/plain/held", "c") as first:
        scripted.wait_for(1)
        assert_error(get(node, "/plain/x", "c"), 429, "too_many_concurrent_requests")
        hold.release.set()
        assert read_response(first).status == 200
    assert served_soon(node, "/plain/x", "c")  # the slot was given back


def test_a_low_priority_flood_is_shed_first_and_pro_is_still_served(
    node: RunningNode, scripted: ScriptedUpstream
) -> None:
    hold = HoldBody()

    def script(request: Received) -> HoldBody | Respond:
        return hold if request.method == "POST" else Respond()

    scripted.script = script
    # The service takes 4 in flight; LOW (the lowest priority) may fill half of it.
    held = [held_post(node, "/busy/x", "f") for _ in range(2)]
    try:
        scripted.wait_for(2)
        shed = get(node, "/busy/x", "f")
        assert_error(shed, 503, "overloaded")
        assert get(node, "/busy/x", "p").status == 200  # PRO goes through
        held += [held_post(node, "/busy/x", "p") for _ in range(2)]
        scripted.wait_for(5)
        assert_error(get(node, "/busy/x", "p"), 503, "service_overloaded")  # full: all wait
    finally:
        hold.release.set()
        for sock in held:
            with sock:
                assert read_response(sock).status == 200
    assert served_soon(node, "/busy/x", "f")
