"""The route table's request-time walk: the compiled twin finds what the pure one finds.

The behaviour of routing is specified in test_router.py, which runs on the twin the
process loads (the compiled one, or the pure one under FLEETGATE_NO_EXTENSIONS=1); here
both twins walk the same tables for the same requests and must agree on the entry,
the regex match that chose it, the entries that refused only the method and the answer
(match, 405 or 404). In CI the compiled twin must exist.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType
from typing import Any

import pytest
from fleetgate_pb import config_pb2 as pb
from hypothesis import given
from hypothesis import strategies as st

from data_plane import extensions
from data_plane.routing import RouteTable
from data_plane.routing import lookup as pure

IN_CI = os.environ.get("CI") == "true"


def compiled_or_skip() -> ModuleType:
    try:
        return importlib.import_module("data_plane.routing.lookup_c")
    except ImportError as exc:
        if IN_CI:
            pytest.fail(f"the compiled route lookup was not built: {exc}", pytrace=False)
        pytest.skip(f"the compiled route lookup is not built here: {exc}")


def route(name: str, *paths: str, **fields: Any) -> pb.Route:
    headers = [pb.HeaderMatch(**h) for h in fields.pop("headers", [])]
    return pb.Route(name=name, paths=list(paths), service="svc", headers=headers, **fields)


TABLE = RouteTable.compile(
    [
        (r, r.name)
        for r in (
            route("root", "/**"),
            route("api", "/api/**"),
            route("orders", "/api/v1/orders/*", methods=["GET"]),
            route("order-items", "/api/*/orders/*/items"),
            route("exact", "/api/v1/orders/42", methods=["DELETE"]),
            route("posted", "/api/v1/orders/*", methods=["POST"], priority=1),
            route("regex", "~/api/v[0-9]+/users/(?P<id>[0-9]+)", rewrite="/users/\\g<id>"),
            route("beta", "/api/**", headers=[{"name": "x-beta", "value": "1"}]),
            route("hosted", "/api/**", hosts=["api.example.com"]),
            route("wild", "/**", hosts=["*.example.com"]),
            route("wild-regex", "~/api/v1/users/.*", hosts=["*.example.com"]),
        )
    ]
)


def test_the_compiled_twin_is_the_one_loaded_when_built(monkeypatch: pytest.MonkeyPatch) -> None:
    compiled = compiled_or_skip()
    monkeypatch.setattr(extensions, "NO_EXTENSIONS", False)
    assert extensions.load("data_plane.routing.lookup") is compiled
    monkeypatch.setattr(extensions, "NO_EXTENSIONS", True)
    assert extensions.load("data_plane.routing.lookup") is pure


@pytest.mark.skipif(extensions.NO_EXTENSIONS, reason="FLEETGATE_NO_EXTENSIONS=1 runs the pure twin")
def test_a_normal_run_routes_with_the_compiled_twin() -> None:
    assert RouteTable.match is compiled_or_skip().match


_SEGMENTS = st.sampled_from(["api", "v1", "v2", "orders", "42", "7", "items", "users", ""])


@given(
    st.lists(_SEGMENTS, max_size=6).map(lambda parts: "/" + "/".join(parts)),
    st.sampled_from(["GET", "HEAD", "POST", "DELETE", "PUT"]),
    st.sampled_from(["example.com", "api.example.com", "a.b.example.com", "other.test:80"]),
    st.sampled_from([{}, {"x-beta": "1"}, {"x-beta": "2"}]),
)
def test_both_twins_find_the_same_entry(
    path: str, method: str, host: str, headers: dict[str, str]
) -> None:
    compiled = compiled_or_skip()
    buckets = TABLE._hosts.select(host)
    entry, found = pure.find(buckets, method, path, headers)
    twin_entry, twin_found = compiled.find(buckets, method, path, headers)
    assert twin_entry is entry
    if entry is None:
        assert twin_found == found  # the entries that refused only the method
    else:
        assert (twin_found is None) is (found is None)
        if found is not None:
            assert twin_found.group(0) == found.group(0)
    assert compiled.match(TABLE, method, host, path, headers) == pure.match(
        TABLE, method, host, path, headers
    )
