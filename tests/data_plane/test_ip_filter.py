"""IP allow and deny lists on the client address, with and without trusted proxies."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from data_plane.config.model import GatewayConfig, RouteSpec
from data_plane.config.snapshot import build_snapshot
from data_plane.config.snapshot_config import snapshot_config
from data_plane.config.syntax import parse_networks
from data_plane.config.validate import check_snapshot
from data_plane.http.request import RequestHead
from data_plane.policies import Call
from data_plane.policies.clients import CACHE_SIZE, ClientAddresses, parse_trusted_proxies
from data_plane.policies.ip_filter import VERDICTS_KEPT, IpFilter
from tests.data_plane.running_node import RunningNode
from tests.data_plane.scripted_upstream import ScriptedUpstream

LOOPBACK = "127.0.0.1"


def addresses(*networks: str) -> ClientAddresses:
    return ClientAddresses(parse_networks(list(networks), "test"))


# ---------------------------------------------------------------- the client address, pure


def test_an_untrusted_peer_is_the_client_whatever_it_forwards() -> None:
    assert addresses("10.0.0.0/8").client("192.0.2.1", b"203.0.113.5") == "192.0.2.1"


def test_behind_a_trusted_proxy_the_client_is_the_right_most_untrusted_entry() -> None:
    clients = addresses("10.0.0.0/8", "2001:db8::/32")
    assert clients.client("10.0.0.1", b"203.0.113.5") == "203.0.113.5"
    assert clients.client("10.0.0.1", b"6.6.6.6, 203.0.113.5") == "203.0.113.5"
    assert clients.client("10.0.0.1", b"203.0.113.5, 10.1.1.1,2001:db8::7") == "203.0.113.5"
    assert clients.client("10.0.0.1", b"10.2.2.2, 10.1.1.1") == "10.2.2.2"
    assert clients.client("10.0.0.1", None) == "10.0.0.1"


def test_an_entry_that_is_not_an_address_stops_at_the_proxy_that_passed_it() -> None:
    clients = addresses("10.0.0.0/8")
    assert clients.client("10.0.0.1", b"203.0.113.5, junk") == "10.0.0.1"
    assert clients.client("10.0.0.1", b"junk, 10.0.0.9") == "10.0.0.9"


def test_a_forwarded_value_seen_before_names_the_same_client_whichever_peer_sent_it() -> None:
    clients = addresses("10.0.0.0/8")
    for _ in range(2):  # the second time from memory
        assert clients.client("10.0.0.1", b"junk, 10.0.0.9") == "10.0.0.9"
        assert clients.client("10.0.0.1", b"203.0.113.5, junk") == "10.0.0.1"
        assert clients.client("10.0.0.2", b"203.0.113.5, junk") == "10.0.0.2"
        assert clients.client("192.0.2.1", b"203.0.113.5") == "192.0.2.1"
        assert clients.client("10.0.0.2", b"203.0.113.5") == "203.0.113.5"


def test_the_memory_of_forwarded_values_is_bounded() -> None:
    clients = addresses("10.0.0.0/8")
    for i in range(CACHE_SIZE + 10):
        value = b"203.0.%d.%d" % (i // 256, i % 256)
        assert clients.client("10.0.0.1", value) == value.decode()
    assert len(clients._forwarded) <= CACHE_SIZE


def test_a_filter_answers_a_client_seen_before_the_same_and_remembers_a_bounded_number() -> None:
    ip_filter = IpFilter(
        parse_networks(["203.0.113.0/24"], "a"), parse_networks(["203.0.113.66"], "d")
    )

    def verdict(client: str) -> str:
        call = Call(RequestHead(b"GET", b"/", b"1.1", True), client, b"")
        answer = ip_filter.on_request(call)
        return "ok" if answer is None else answer.message  # type: ignore[union-attr]

    for _ in range(2):  # the second time from memory
        assert verdict("203.0.113.5") == "ok"
        assert "denied" in verdict("203.0.113.66")
        assert "not allowed" in verdict("198.51.100.1")
        assert "not allowed" in verdict("unix:/tmp/s")
    for i in range(VERDICTS_KEPT + 10):
        verdict(f"203.0.{i // 256}.{i % 256}")
    assert len(ip_filter._verdicts) <= VERDICTS_KEPT


def test_ipv4_mapped_and_bracketed_entries_are_read_as_addresses() -> None:
    clients = addresses("10.0.0.0/8")
    assert clients.client("::ffff:10.0.0.1", b"[2001:db8::1]:443") == "2001:db8::1"
    assert clients.client("10.0.0.1", b"::ffff:203.0.113.5") == "203.0.113.5"


def test_trusted_proxies_and_route_lists_must_be_networks() -> None:
    assert parse_trusted_proxies(" 10.0.0.0/8, ::1 ,") == parse_networks(["10.0.0.0/8", "::1"], "x")
    for bad in ("10.0.0.1/8", "10.0.0.0/33", "example.com", "10.0.0.0/8;rm"):
        with pytest.raises(ValueError, match="not a CIDR"):
            parse_trusted_proxies(bad)
        with pytest.raises(ValidationError):
            RouteSpec(name="r", paths=["/"], service="s", ip_allow=[bad])


# ---------------------------------------------------------------- on a node


def gateway(upstream: str) -> dict[str, Any]:
    def route(name: str, **lists: Any) -> dict[str, Any]:
        return {"name": name, "paths": [f"/{name}/**"], "service": "app", **lists}

    return {
        "services": [{"name": "app", "targets": [{"address": upstream}]}],
        "routes": [
            route("office", ip_allow=["203.0.113.0/24"], ip_deny=["203.0.113.66"]),
            route("v6", ip_allow=["2001:db8::/32"]),
            route("blocked", ip_deny=["198.51.100.0/24", "2001:db9::/32"]),
            route("local", ip_allow=["127.0.0.0/8", "::1"]),
        ],
    }


@pytest.fixture(scope="module")
def behind_proxy(
    upstream: ScriptedUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningNode]:
    """A node trusting the loopback address as its load balancer."""
    env = {"FLEETGATE_TRUSTED_PROXIES": "127.0.0.1/32"}
    running = RunningNode(tmp_path_factory.mktemp("proxied"), gateway(upstream.address), env=env)
    running.start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def direct(
    upstream: ScriptedUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningNode]:
    running = RunningNode(tmp_path_factory.mktemp("direct"), gateway(upstream.address))
    running.start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def behind_proxy_by_flag(
    upstream: ScriptedUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningNode]:
    """A node told by its flag, over a variable that trusts another network, to trust
    the loopback address as its load balancer."""
    running = RunningNode(
        tmp_path_factory.mktemp("flagged"),
        gateway(upstream.address),
        env={"FLEETGATE_TRUSTED_PROXIES": "10.0.0.0/8"},
        flags=("--trusted-proxies", "192.0.2.0/24, 127.0.0.1/32"),
        workers=2,
    )
    running.start()
    yield running
    running.stop()


def status(node: RunningNode, path: str, forwarded_for: str | None = None) -> int:
    headers = {} if forwarded_for is None else {"X-Forwarded-For": forwarded_for}
    response = node.get(path, headers)
    if response.status == 403:
        assert response.json()["error"]["code"] == "forbidden"
    return response.status


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("path", "forwarded_for", "expected"),
    [
        ("/office/x", "203.0.113.5", 200),
        ("/office/x", "203.0.113.66", 403),  # deny wins over allow
        ("/office/x", "198.51.100.1", 403),  # in no allowed network
        ("/office/x", None, 403),  # the proxy itself is not in the office
        ("/office/x", "203.0.113.5, 198.51.100.1", 403),  # the left entry is the client's word
        ("/office/x", "198.51.100.1, 203.0.113.5", 200),
        ("/office/x", "203.0.113.5, 127.0.0.1", 200),  # trusted hops are skipped
        ("/office/x", "junk", 403),
        ("/v6/x", "2001:db8::1", 200),
        ("/v6/x", "2001:db9::1", 403),
        ("/v6/x", "203.0.113.5", 403),
        ("/blocked/x", "198.51.100.7", 403),
        ("/blocked/x", "2001:db9::5", 403),
        ("/blocked/x", "203.0.113.5", 200),
    ],
)
def test_behind_a_trusted_proxy_the_lists_apply_to_the_forwarded_client(
    behind_proxy: RunningNode,
    scripted: ScriptedUpstream,
    path: str,
    forwarded_for: str | None,
    expected: int,
) -> None:
    assert status(behind_proxy, path, forwarded_for) == expected
    assert len(scripted.received()) == (1 if expected == 200 else 0)


@pytest.mark.e2e
def test_without_trusted_proxies_a_forwarded_address_changes_nothing(
    direct: RunningNode, scripted: ScriptedUpstream
) -> None:
    assert status(direct, "/office/x", "203.0.113.5") == 403
    assert status(direct, "/blocked/x", "198.51.100.7") == 200
    assert status(direct, "/local/x") == 200
    assert len(scripted.wait_for(2)) == 2


@pytest.mark.e2e
def test_the_trusted_proxies_flag_overrides_the_variable_in_every_worker(
    behind_proxy_by_flag: RunningNode, scripted: ScriptedUpstream
) -> None:
    # Several requests, on fresh connections, so both workers answer some.
    for _ in range(6):
        assert status(behind_proxy_by_flag, "/office/x", "203.0.113.5") == 200
        assert status(behind_proxy_by_flag, "/office/x", "198.51.100.1") == 403
    assert status(behind_proxy_by_flag, "/local/x", "203.0.113.5") == 403
    assert len(scripted.wait_for(6)) == 6


@pytest.mark.e2e
def test_a_node_refuses_to_start_with_a_trusted_proxies_flag_that_is_not_networks(
    upstream: ScriptedUpstream, tmp_path: Path
) -> None:
    flags = ("--trusted-proxies", "10.0.0.0/8,proxy.example")
    node = RunningNode(tmp_path, gateway(upstream.address), flags=flags).start(wait=False)
    assert node.process is not None
    assert node.process.wait(20) != 0
    assert "--trusted-proxies" in node.log() and "proxy.example" in node.log()


@pytest.mark.e2e
def test_a_node_refuses_to_start_with_trusted_proxies_that_are_not_networks(
    upstream: ScriptedUpstream, tmp_path: Path
) -> None:
    env = {"FLEETGATE_TRUSTED_PROXIES": "10.0.0.0/8,proxy.example"}
    node = RunningNode(tmp_path, gateway(upstream.address), env=env).start(wait=False)
    assert node.process is not None
    assert node.process.wait(20) != 0
    assert "FLEETGATE_TRUSTED_PROXIES" in node.log() and "proxy.example" in node.log()


def test_a_route_with_lists_needs_the_ip_filter_and_crafted_lists_are_checked() -> None:
    config = GatewayConfig.model_validate(gateway("127.0.0.1:9"))
    snapshot = build_snapshot(config)
    assert list(snapshot.required_capabilities) == ["policy.ip_filter"]
    office = {r.name: r for r in snapshot_config(snapshot).routes}["office"]
    assert office.ip_deny == ["203.0.113.66"]
    next(r for r in snapshot.routes if r.name == "office").ip_allow.append("10.0.0.1/8")
    assert [e.field for e in check_snapshot(snapshot)] == ["routes.office.ip_allow"]
