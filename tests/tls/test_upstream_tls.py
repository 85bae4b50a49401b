"""HTTPS and mutual TLS to upstreams, on a real node: verified against the service's CA,
pooled like plain connections, and a failed handshake is 502 upstream_tls."""

from __future__ import annotations

import ssl
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.data_plane.running_node import RunningNode, read_response
from tests.data_plane.scripted_upstream import ScriptedUpstream

from .pki import Authority, Issued

pytestmark = pytest.mark.e2e

CA = Authority.new("upstream CA")
STRANGER = Authority.new("another CA")
SERVER = CA.issue("users.internal")
CLIENT = CA.issue("fleetgate-node", client=True)


def server_context(issued: Issued, *, client_ca: Authority | None = None) -> ssl.SSLContext:
    """The upstream's context: `issued` as its certificate, `client_ca` to require clients."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.NamedTemporaryFile("w", suffix=".pem") as pair:
        pair.write(issued.chain + issued.key)
        pair.flush()
        context.load_cert_chain(pair.name)
    if client_ca is not None:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(cadata=client_ca.pem)
    return context


@pytest.fixture(scope="module")
def https_upstream() -> Iterator[ScriptedUpstream]:
    with ScriptedUpstream(tls=server_context(SERVER)) as server:
        yield server


@pytest.fixture(scope="module")
def mtls_upstream() -> Iterator[ScriptedUpstream]:
    with ScriptedUpstream(tls=server_context(SERVER, client_ca=CA)) as server:
        yield server


def gateway(address: str, tls: dict[str, Any]) -> dict[str, Any]:
    return {
        "services": [{"name": "users", "targets": [{"address": address}], "tls": tls}],
        "routes": [{"name": "users", "paths": ["/**"], "service": "users"}],
    }


def serving(tmp_path: Path, address: str, tls: dict[str, Any]) -> RunningNode:
    return RunningNode(tmp_path, gateway(address, tls)).start()


def test_an_https_upstream_verified_with_its_ca_is_reached_and_its_connection_reused(
    tmp_path: Path, https_upstream: ScriptedUpstream
) -> None:
    https_upstream.clear()
    before = https_upstream.connections
    node = serving(tmp_path, https_upstream.address, {"ca": CA.pem, "sni": "users.internal"})
    try:
        with node.connect() as sock:
            for path in ("/one", "/two", "/three"):
                sock.sendall(f"GET {path} HTTP/1.1\r\nHost: api\r\n\r\n".encode())
                assert read_response(sock).status == 200
        assert [r.target for r in https_upstream.wait_for(3)] == ["/one", "/two", "/three"]
        assert https_upstream.connections - before == 1  # pooled like plain HTTP
    finally:
        node.stop()


def test_an_upstream_whose_certificate_another_ca_signed_is_502_upstream_tls(
    tmp_path: Path, https_upstream: ScriptedUpstream
) -> None:
    node = serving(tmp_path, https_upstream.address, {"ca": STRANGER.pem, "sni": "users.internal"})
    try:
        answer = node.get("/users")
        assert answer.status == 502
        body = answer.json()["error"]
        assert body["code"] == "upstream_tls"
        assert "certificate" not in body["message"]  # the reason is logged, not shown
        assert "users.internal" not in answer.body.decode()
    finally:
        node.stop()


def test_an_upstream_name_its_certificate_does_not_cover_is_502_upstream_tls(
    tmp_path: Path, https_upstream: ScriptedUpstream
) -> None:
    node = serving(tmp_path, https_upstream.address, {"ca": CA.pem, "sni": "orders.internal"})
    try:
        answer = node.get("/users")
        assert answer.status == 502 and answer.json()["error"]["code"] == "upstream_tls"
    finally:
        node.stop()


def test_verify_false_reaches_an_upstream_whatever_signed_it(
    tmp_path: Path, https_upstream: ScriptedUpstream
) -> None:
    node = serving(tmp_path, https_upstream.address, {"verify": False})
    try:
        assert node.get("/users").status == 200
    finally:
        node.stop()


def test_mutual_tls_sends_the_client_certificate_the_upstream_requires(
    tmp_path: Path, mtls_upstream: ScriptedUpstream
) -> None:
    tls = {
        "ca": CA.pem,
        "sni": "users.internal",
        "client_cert": CLIENT.chain,
        "client_key": CLIENT.key,
    }
    node = serving(tmp_path, mtls_upstream.address, tls)
    try:
        assert node.get("/with-client-cert").status == 200
    finally:
        node.stop()


def test_without_a_client_certificate_an_upstream_requiring_one_is_a_502(
    tmp_path: Path, mtls_upstream: ScriptedUpstream
) -> None:
    node = serving(tmp_path, mtls_upstream.address, {"ca": CA.pem, "sni": "users.internal"})
    try:
        assert node.get("/without").status == 502
    finally:
        node.stop()


@pytest.mark.parametrize(("ca", "healthy"), [(CA, 1.0), (STRANGER, 0.0)])
def test_active_health_checks_reach_an_https_upstream_the_way_requests_do(
    tmp_path: Path, https_upstream: ScriptedUpstream, ca: Authority, healthy: float
) -> None:
    document = gateway(https_upstream.address, {"ca": ca.pem, "sni": "users.internal"})
    document["services"][0]["health_check"] = {
        "path": "/health",
        "interval": 0.1,
        "healthy_threshold": 1,
        "unhealthy_threshold": 1,
    }
    node = RunningNode(tmp_path, document).start()
    labels = {"service": "users", "target": https_upstream.address}
    try:
        deadline = time.monotonic() + 10.0
        while node.metric("fleetgate_target_healthy", **labels) != healthy or not any(
            line.startswith("fleetgate_target_healthy") for line in node.metrics().splitlines()
        ):
            assert time.monotonic() < deadline, node.metrics()
            time.sleep(0.05)
    finally:
        node.stop()
