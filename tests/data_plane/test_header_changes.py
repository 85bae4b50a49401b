"""A route's header changes never reach the framing, the Host or the gateway's own fields,
even when the snapshot carries such changes (the admin API refuses them; a crafted
cache or an older control plane might not).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fleetgate_pb import config_pb2 as pb

from data_plane.config.syntax import GATEWAY_FIELDS
from data_plane.policies import build_chain
from data_plane.policies.header_changes import FieldEdit
from tests.data_plane.in_process import InProcessProxy
from tests.data_plane.running_node import read_response
from tests.data_plane.scripted_upstream import Respond, ScriptedUpstream

FORBIDDEN = {
    "Host": "evil.test",
    "Content-Length": "0",
    "Transfer-Encoding": "chunked",
    "Connection": "close",
    "Keep-Alive": "timeout=1",
    "Proxy-Connection": "keep-alive",
    "Trailer": "X-Checksum",
    "Upgrade": "h2c",
    "TE": "trailers",
    "Expect": "100-continue",
    "X-Forwarded-For": "6.6.6.6",
    "X-Forwarded-Host": "evil.test",
    "X-Forwarded-Proto": "https",
    "Via": "1.1 evil",
    "X-Request-ID": "forged",
    "X-Consumer": "admin",
    "X-Tenant": "acme",
}


def changes(*, remove: tuple[str, ...] = ()) -> pb.HeaderChanges:
    return pb.HeaderChanges(
        set={**FORBIDDEN, "X-Env": "test"},
        add={name.lower(): value for name, value in FORBIDDEN.items()} | {"X-Added": "1"},
        remove=[*remove, *(name.lower() for name in FORBIDDEN)],
    )


def test_the_forbidden_names_are_the_gateways_own_fields() -> None:
    assert {name.lower() for name in FORBIDDEN} == GATEWAY_FIELDS


def test_a_compiled_change_keeps_only_the_fields_a_route_may_touch() -> None:
    edit = FieldEdit(changes(remove=("x-secret",)))
    assert edit.dropped == {b"x-env", b"x-secret"}
    assert edit.appended == ((b"X-Env", b"test"), (b"X-Added", b"1"))


def test_applying_it_leaves_the_gateways_fields_as_they_were() -> None:
    fields = [(b"Content-Length", b"5"), (b"Via", b"1.1 fleetgate"), (b"X-Env", b"prod")]
    FieldEdit(changes()).apply(fields)
    assert fields == [
        (b"Content-Length", b"5"),
        (b"Via", b"1.1 fleetgate"),
        (b"X-Env", b"test"),
        (b"X-Added", b"1"),
    ]


@pytest.fixture
def proxy(scripted: ScriptedUpstream) -> Iterator[InProcessProxy]:
    config = {
        "services": [{"name": "app", "targets": [{"address": scripted.address}]}],
        "routes": [{"name": "app", "hosts": ["gw.test"], "paths": ["/**"], "service": "app"}],
    }
    with InProcessProxy(config) as running:
        # The route's chain as a snapshot carrying the forbidden changes compiles it:
        # straight from the protobuf, past every check of the config model.
        route = pb.Route(
            name="app", request_headers=changes(), response_headers=changes(), service="app"
        )
        plan = running.plan("/")
        running.on_loop(lambda: setattr(plan, "chain", build_chain(route)))
        yield running


def test_the_upstream_gets_its_own_host_the_real_framing_and_the_gateways_fields(
    proxy: InProcessProxy, scripted: ScriptedUpstream
) -> None:
    response = proxy.request(
        b"POST /x HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 5\r\nX-Request-ID: abc\r\n\r\nhello"
    )
    assert response.status == 200
    (request,) = scripted.wait_for(1)
    assert request.all("host") == [scripted.address]
    assert request.all("content-length") == ["5"]
    assert bytes(request.body) == b"hello"
    assert request.all("x-forwarded-for") == ["127.0.0.1"]
    assert request.all("x-forwarded-host") == ["gw.test"]
    assert request.all("x-forwarded-proto") == ["http"]
    assert request.all("via") == ["1.1 fleetgate"]
    assert request.all("x-request-id") == ["abc"]
    for name in ("transfer-encoding", "connection", "upgrade", "te", "trailer", "x-consumer"):
        assert request.all(name) == [], name
    assert (request.all("x-env"), request.all("x-added")) == (["test"], ["1"])


def test_the_client_gets_the_real_framing_and_the_connection_stays_usable(
    proxy: InProcessProxy, scripted: ScriptedUpstream
) -> None:
    scripted.script = lambda r: Respond(body=b"twelve bytes")
    with proxy.connect() as sock:
        for _ in range(2):  # a forged Content-Length: 0 would desync the second one
            sock.sendall(b"GET /x HTTP/1.1\r\nHost: gw.test\r\n\r\n")
            response = read_response(sock)
            assert (response.status, response.body) == (200, b"twelve bytes")
            assert [v for k, v in response.headers if k.lower() == "content-length"] == ["12"]
            assert response.header("transfer-encoding") is None
            assert response.header("connection") is None
            assert response.header("via") == "1.1 fleetgate"
            assert response.header("x-env") == "test"
