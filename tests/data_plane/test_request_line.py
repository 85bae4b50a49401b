"""A request's route and request line: the compiled twin answers what the pure one does.

Each twin takes the heads of its own head path (the compiled one cimports the compiled
RequestHead). The routing itself is specified in test_router.py and test_path_routing.py,
which run on the twin the process loads. In CI the compiled twin must exist.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest
from fleetgate_pb import config_pb2 as pb

from data_plane import extensions
from data_plane.http import forwarding
from data_plane.http import heads as pure_heads
from data_plane.http import request_line as pure
from data_plane.http.errors import ProxyError
from data_plane.routing import RouteTable

IN_CI = os.environ.get("CI") == "true"
TABLE = RouteTable.compile(
    [
        (pb.Route(name="api", paths=["/api/**"], service="s", strip_prefix=True), "api"),
        (pb.Route(name="root", paths=["/**"], service="s", methods=["GET"]), "root"),
        (pb.Route(name="hosted", paths=["/h"], service="s", hosts=["h.test"]), "hosted"),
    ]
)
REQUESTS = [
    b"GET /api/v1/orders/12345?x=1&y HTTP/1.1\r\nHost: gw.test\r\n\r\n",
    b"GET /a/../b/./c?q HTTP/1.1\r\nHost: gw.test\r\n\r\n",
    b"GET /plain HTTP/1.1\r\nHost: gw.test:8080\r\n\r\n",
    b"HEAD /h HTTP/1.1\r\nHost: H.TEST.\r\n\r\n",
    b"POST /elsewhere HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 0\r\n\r\n",
    b"GET /h HTTP/1.1\r\nHost: other.test\r\n\r\n",
]


def twins() -> tuple[ModuleType, ModuleType]:
    """The compiled request_line and the compiled head path it takes heads from."""
    try:
        return (
            importlib.import_module("data_plane.http.request_line_c"),
            importlib.import_module("data_plane.http.heads_c"),
        )
    except ImportError as exc:
        if IN_CI:
            pytest.fail(f"the compiled request line was not built: {exc}", pytrace=False)
        pytest.skip(f"the compiled request line is not built here: {exc}")


def answer(module: ModuleType, heads: ModuleType, data: bytes) -> object:
    parser = heads.RequestParser(64 * 1024, 100)
    parser.feed(data)
    try:
        return module.route_request(TABLE, parser.next_event())
    except ProxyError as error:
        return (error.status, error.headers)


def test_the_compiled_twin_is_the_one_loaded_when_built(monkeypatch: pytest.MonkeyPatch) -> None:
    compiled, _ = twins()
    monkeypatch.setattr(extensions, "NO_EXTENSIONS", False)
    assert extensions.load("data_plane.http.request_line") is compiled
    monkeypatch.setattr(extensions, "NO_EXTENSIONS", True)
    assert extensions.load("data_plane.http.request_line") is pure


@pytest.mark.skipif(extensions.NO_EXTENSIONS, reason="FLEETGATE_NO_EXTENSIONS=1 runs the pure twin")
def test_a_normal_run_routes_requests_with_the_compiled_twin() -> None:
    assert forwarding.route_request is twins()[0].route_request


@pytest.mark.parametrize("data", REQUESTS)
def test_both_twins_give_the_same_route_line_or_error(data: bytes) -> None:
    compiled, compiled_heads = twins()
    expected = answer(pure, pure_heads, data)
    assert answer(compiled, compiled_heads, data) == expected


def test_the_request_line_keeps_the_query_byte_for_byte() -> None:
    compiled, compiled_heads = twins()
    for module, heads in ((pure, pure_heads), (compiled, compiled_heads)):
        assert answer(module, heads, REQUESTS[0]) == (
            "api",
            b"GET /v1/orders/12345?x=1&y HTTP/1.1\r\n",
        )
        assert answer(module, heads, REQUESTS[1]) == ("root", b"GET /b/c?q HTTP/1.1\r\n")
        assert answer(module, heads, REQUESTS[4])[0] == 405
