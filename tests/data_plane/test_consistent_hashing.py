"""Consistent hashing through a running node: one key, one target, whichever worker.

Three upstreams answer with their own name. Services hash on a header, a cookie and
the client's address; a node with two workers receives every request on a new
connection, so keys are looked up by both workers, which must agree.
"""

from __future__ import annotations

import socket
from collections import defaultdict
from collections.abc import Iterator

import pytest

from tests.data_plane.running_node import RunningNode, read_response
from tests.data_plane.scripted_upstream import Respond, Script, ScriptedUpstream

pytestmark = pytest.mark.e2e

KEYS = 30
ROUNDS = 4  # requests per key


def answer_with(name: str) -> Script:
    return lambda request: Respond(body=name.encode())


@pytest.fixture(scope="module")
def targets() -> Iterator[list[ScriptedUpstream]]:
    servers = [ScriptedUpstream(answer_with(f"target-{i}")).start() for i in range(3)]
    yield servers
    for server in servers:
        server.stop()


@pytest.fixture(scope="module")
def node(
    targets: list[ScriptedUpstream], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningNode]:
    addresses = [{"address": t.address} for t in targets]
    keys = {
        "header": {"source": "header", "name": "x-user"},
        "cookie": {"source": "cookie", "name": "session"},
        "ip": {"source": "client_ip"},
    }
    config = {
        "services": [
            {
                "name": name,
                "targets": addresses,
                "load_balancer": "consistent_hash",
                "hash_key": key,
            }
            for name, key in keys.items()
        ],
        "routes": [{"name": name, "paths": [f"/{name}/**"], "service": name} for name in keys],
    }
    running = RunningNode(tmp_path_factory.mktemp("node"), config, workers=2).start()
    running.wait_workers(2)
    yield running
    running.stop()


def target_of(node: RunningNode, path: str, field: str = "", source: str = "127.0.0.1") -> str:
    """Which target answered a request sent on a new connection from `source`."""
    with socket.create_connection(("127.0.0.1", node.port), 10, (source, 0)) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: gw.test\r\n{field}\r\n".encode())
        response = read_response(sock)
    assert response.status == 200
    return response.body.decode()


def assert_one_target_per_key(answers: dict[str, list[str]]) -> None:
    for key, seen in answers.items():
        assert len(set(seen)) == 1, f"{key} went to {seen}"
    used = {seen[0] for seen in answers.values()}
    assert len(used) > 1, f"{len(answers)} keys all went to {used}"


def test_the_same_header_value_always_reaches_the_same_target(node: RunningNode) -> None:
    answers: dict[str, list[str]] = defaultdict(list)
    for _ in range(ROUNDS):
        for i in range(KEYS):
            answers[f"user-{i}"].append(target_of(node, "/header/x", f"X-User: user-{i}\r\n"))
    assert_one_target_per_key(answers)


def test_the_same_cookie_always_reaches_the_same_target(node: RunningNode) -> None:
    answers: dict[str, list[str]] = defaultdict(list)
    for _ in range(ROUNDS):
        for i in range(KEYS):
            field = f"Cookie: theme=dark; session=s{i}; lang=en\r\n"
            answers[f"s{i}"].append(target_of(node, "/cookie/x", field))
    assert_one_target_per_key(answers)


def test_the_same_client_address_always_reaches_the_same_target(node: RunningNode) -> None:
    answers: dict[str, list[str]] = defaultdict(list)
    for _ in range(ROUNDS):
        for i in range(KEYS):
            source = f"127.0.0.{i + 2}"
            answers[source].append(target_of(node, "/ip/x", source=source))
    assert_one_target_per_key(answers)


def test_the_key_decides_not_the_path(node: RunningNode) -> None:
    seen = {target_of(node, f"/header/{i}", "X-User: fixed\r\n") for i in range(20)}
    assert len(seen) == 1
