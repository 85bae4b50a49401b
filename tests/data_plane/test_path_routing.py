"""Path normalization end to end: routing and the upstream see one and the same path.

`/admin/**` goes to one upstream, `/api/**` to another. Traversal tricks aimed at the
admin service reach it only when the normalized path names it, and then the admin
upstream receives exactly that normalized path; the forms DESIGN.md refuses are 400
and reach neither upstream.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.data_plane.running_node import RunningNode
from tests.data_plane.scripted_upstream import ScriptedUpstream, echo_request

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def admin_upstream() -> Iterator[ScriptedUpstream]:
    with ScriptedUpstream() as server:
        yield server


@pytest.fixture
def admin(admin_upstream: ScriptedUpstream) -> ScriptedUpstream:
    admin_upstream.script = echo_request
    admin_upstream.clear()
    return admin_upstream


@pytest.fixture
def api(scripted: ScriptedUpstream) -> ScriptedUpstream:
    return scripted


@pytest.fixture(scope="module")
def node(
    upstream: ScriptedUpstream,
    admin_upstream: ScriptedUpstream,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RunningNode]:
    config = {
        "services": [
            {"name": "api", "targets": [{"address": upstream.address}]},
            {"name": "admin", "targets": [{"address": admin_upstream.address}]},
        ],
        "routes": [
            {"name": "api", "paths": ["/api/**"], "service": "api"},
            {"name": "admin", "paths": ["/admin/**"], "service": "admin"},
        ],
    }
    running = RunningNode(tmp_path_factory.mktemp("node"), config).start()
    yield running
    running.stop()


def get(node: RunningNode, target: str) -> int:
    return node.request(f"GET {target} HTTP/1.1\r\nHost: gw.test\r\n\r\n".encode()).status


@pytest.mark.parametrize(
    ("sent", "forwarded"),
    [
        ("/api/../admin", "/admin"),
        ("/api/%2e%2e/admin", "/admin"),
        ("/api/%2E%2E/admin", "/admin"),
        ("/api/.%2e/admin", "/admin"),
        ("//admin", "/admin"),
        ("/%61dmin", "/admin"),
        ("/api/x/../../admin/users", "/admin/users"),
        ("/api/../../../admin", "/admin"),
        ("/api/./../admin/./x//y", "/admin/x/y"),
        ("/api/../admin?next=/api/../x&%2e%2e", "/admin?next=/api/../x&%2e%2e"),
    ],
)
def test_a_path_naming_admin_once_normalized_reaches_admin_as_normalized(
    node: RunningNode, api: ScriptedUpstream, admin: ScriptedUpstream, sent: str, forwarded: str
) -> None:
    assert get(node, sent) == 200
    (request,) = admin.wait_for(1)
    assert request.target == forwarded
    assert api.received() == []


@pytest.mark.parametrize(
    ("sent", "forwarded"),
    [
        ("/admin/../api/x", "/api/x"),
        ("/api/%252e%252e/admin", "/api/%252e%252e/admin"),  # decoded once: not dots
        ("/api/..admin", "/api/..admin"),
        ("/api/%2e%2eadmin", "/api/..admin"),
        ("/api//admin", "/api/admin"),
        ("/api/admin/..", "/api/"),
    ],
)
def test_a_path_naming_api_once_normalized_never_reaches_admin(
    node: RunningNode, api: ScriptedUpstream, admin: ScriptedUpstream, sent: str, forwarded: str
) -> None:
    assert get(node, sent) == 200
    (request,) = api.wait_for(1)
    assert request.target == forwarded
    assert admin.received() == []


@pytest.mark.parametrize(
    "sent",
    [
        "/api/..%2fadmin",
        "/api/..%2Fadmin",
        "/api/%2e%2e%2fadmin",
        "/api/..%5cadmin",
        "/api/..\\admin",
        "/api/..;/admin",
        "/api;/../admin",
        "/api/..%00/admin",
        "/api/..%2/admin",
        "/api/%%32%65%%32%65/admin",
    ],
)
def test_a_refused_path_form_is_400_and_reaches_no_upstream(
    node: RunningNode, api: ScriptedUpstream, admin: ScriptedUpstream, sent: str
) -> None:
    assert get(node, sent) == 400
    assert get(node, "/api/after") == 200  # the node went on; the upstreams saw only this
    assert [r.target for r in api.wait_for(1)] == ["/api/after"]
    assert admin.received() == []


def test_a_path_outside_both_routes_after_normalization_is_404(
    node: RunningNode, api: ScriptedUpstream, admin: ScriptedUpstream
) -> None:
    assert get(node, "/api/../other") == 404
    assert get(node, "/admin/../../etc/passwd") == 404
    assert api.received() == [] and admin.received() == []
