"""CORS on a real node: preflights answered at the edge, the fields on every response."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fleetgate_pb import config_pb2 as pb
from pydantic import ValidationError

from data_plane.config.model import CorsSpec, GatewayConfig
from data_plane.config.snapshot import build_snapshot
from data_plane.config.validate import check_snapshot
from tests.data_plane.running_node import Response, RunningNode
from tests.data_plane.scripted_upstream import Respond, ScriptedUpstream

APP = "https://app.test"


def gateway(upstream: str) -> dict[str, Any]:
    app_cors = {
        "allow_origins": [APP, "http://localhost:3000"],
        "allow_methods": ["GET", "POST"],
        "allow_credentials": True,
        "expose_headers": ["x-total"],
        "max_age": 120,
    }
    any_cors = {"allow_origins": ["*"], "allow_headers": ["content-type"]}
    return {
        "services": [{"name": "app", "targets": [{"address": upstream}]}],
        "routes": [
            {
                "name": "app",
                "paths": ["/app/**"],
                "methods": ["GET", "POST"],
                "service": "app",
                "cors": app_cors,
            },
            {"name": "any", "paths": ["/any/**"], "service": "app", "cors": any_cors},
            {
                "name": "secure",
                "paths": ["/secure/**"],
                "service": "app",
                "cors": app_cors,
                "auth": {"methods": ["api_key"]},
            },
        ],
    }


@pytest.fixture(scope="module")
def node(
    upstream: ScriptedUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningNode]:
    running = RunningNode(tmp_path_factory.mktemp("cors"), gateway(upstream.address))
    running.start()
    yield running
    running.stop()


def request(node: RunningNode, method: str, path: str, **headers: str) -> Response:
    fields = "".join(f"{k.replace('_', '-')}: {v}\r\n" for k, v in headers.items())
    head = method == "HEAD"
    return node.request(
        f"{method} {path} HTTP/1.1\r\nHost: gw.test\r\n{fields}\r\n".encode(), head=head
    )


def cors_fields(response: Response) -> dict[str, str]:
    return {k.lower(): v for k, v in response.headers if k.lower().startswith("access-control-")}


def varies(response: Response) -> list[str]:
    return [v for k, v in response.headers if k.lower() == "vary"]


@pytest.mark.e2e
def test_an_allowed_preflight_is_answered_204_at_the_edge(
    node: RunningNode, scripted: ScriptedUpstream
) -> None:
    response = request(
        node,
        "OPTIONS",
        "/app/items",
        Origin=APP,
        Access_Control_Request_Method="POST",
        Access_Control_Request_Headers="content-type, x-trace",
    )
    assert response.status == 204
    assert response.header("content-length") is None and response.body == b""
    assert cors_fields(response) == {
        "access-control-allow-origin": APP,
        "access-control-allow-methods": "GET, POST",
        "access-control-max-age": "120",
        "access-control-allow-headers": "content-type, x-trace",
        "access-control-allow-credentials": "true",
    }
    assert "Origin" in varies(response)[0]
    assert scripted.received() == []


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("origin", "method"), [("https://evil.test", "POST"), (APP, "DELETE"), ("null", "GET")]
)
def test_a_refused_preflight_gets_no_cors_fields_and_no_upstream_call(
    node: RunningNode, scripted: ScriptedUpstream, origin: str, method: str
) -> None:
    response = request(
        node, "OPTIONS", "/app/items", Origin=origin, Access_Control_Request_Method=method
    )
    assert response.status == 204
    assert cors_fields(response) == {}
    assert scripted.received() == []


@pytest.mark.e2e
def test_a_plain_options_request_on_a_route_without_options_is_still_405(
    node: RunningNode, scripted: ScriptedUpstream
) -> None:
    response = request(node, "OPTIONS", "/app/items", Origin=APP)
    assert response.status == 405
    assert response.header("allow") == "GET, POST"
    assert scripted.received() == []


@pytest.mark.e2e
def test_an_allowed_origin_gets_the_fields_and_the_upstreams_own_are_replaced(
    node: RunningNode, scripted: ScriptedUpstream
) -> None:
    scripted.script = lambda r: Respond(
        headers=(("Access-Control-Allow-Origin", "*"), ("X-Total", "3"))
    )
    response = request(node, "GET", "/app/items", Origin=APP)
    assert response.status == 200
    assert cors_fields(response) == {
        "access-control-allow-origin": APP,
        "access-control-allow-credentials": "true",
        "access-control-expose-headers": "x-total",
    }
    assert varies(response) == ["Origin"]
    (received,) = scripted.wait_for(1)
    assert received.header("origin") == APP


@pytest.mark.e2e
@pytest.mark.parametrize("origin", ["https://evil.test", None])
def test_another_origin_or_none_gets_no_cors_fields_but_vary(
    node: RunningNode, scripted: ScriptedUpstream, origin: str | None
) -> None:
    headers = {} if origin is None else {"Origin": origin}
    response = request(node, "GET", "/app/items", **headers)
    assert response.status == 200
    assert cors_fields(response) == {}
    assert varies(response) == ["Origin"]


@pytest.mark.e2e
def test_any_origin_is_answered_with_a_star(node: RunningNode, scripted: ScriptedUpstream) -> None:
    response = request(node, "GET", "/any/x", Origin="https://whoever.test")
    assert cors_fields(response) == {"access-control-allow-origin": "*"}
    preflight = request(
        node,
        "OPTIONS",
        "/any/x",
        Origin="https://whoever.test",
        Access_Control_Request_Method="PUT",
    )
    assert cors_fields(preflight)["access-control-allow-headers"] == "content-type"
    assert len(scripted.wait_for(1)) == 1


@pytest.mark.e2e
def test_the_gateways_own_answers_carry_the_fields_too(
    node: RunningNode, scripted: ScriptedUpstream
) -> None:
    response = request(node, "GET", "/secure/x", Origin=APP)
    assert response.status == 401
    assert cors_fields(response)["access-control-allow-origin"] == APP
    assert scripted.received() == []


def test_credentials_with_any_origin_are_refused_at_validation() -> None:
    with pytest.raises(ValidationError, match="allow_credentials"):
        CorsSpec(allow_origins=["*"], allow_credentials=True)
    for origin in ("https://a.test/path", "a.test", "https://a.test:99999999", "*.a.test"):
        with pytest.raises(ValidationError):
            CorsSpec(allow_origins=[origin])
    snapshot = build_snapshot(GatewayConfig.model_validate(gateway("127.0.0.1:9")))
    assert list(snapshot.required_capabilities) == ["policy.auth", "policy.cors"]
    snapshot.routes[0].cors.CopyFrom(
        pb.CorsPolicy(allow_origins=["*"], allow_credentials=True, allow_headers=["a b"])
    )
    assert sorted(e.field for e in check_snapshot(snapshot)) == [
        f"routes.{snapshot.routes[0].name}.cors.allow_credentials",
        f"routes.{snapshot.routes[0].name}.cors.allow_headers.0",
    ]
