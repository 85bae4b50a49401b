"""A certificate rotated through the admin API reaches a synced node's next new connection,
while the connections already open keep theirs and go on being served."""

from __future__ import annotations

import socket
import ssl
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from tests.conftest import free_port
from tests.data_plane.running_node import read_response
from tests.sync.fleet import ControlPlane, Node, running, until, upstream

from .pki import Authority

pytestmark = pytest.mark.e2e

CA = Authority.new()


def tls_connect(port: int) -> ssl.SSLSocket:
    context = ssl.create_default_context(cadata=CA.pem)
    raw = socket.create_connection(("127.0.0.1", port), timeout=10.0)
    return context.wrap_socket(raw, server_hostname="api.example.com")


def answers(sock: socket.socket) -> bool:
    sock.sendall(b"GET /one/x HTTP/1.1\r\nHost: api.example.com\r\n\r\n")
    return read_response(sock).status == 200


def served_certificate(port: int) -> bytes | None:
    with tls_connect(port) as sock:
        return sock.getpeercert(binary_form=True)


def test_a_certificate_replaced_through_the_admin_api_is_served_to_the_next_connection(
    tmp_path: Path,
) -> None:
    first, renewed = CA.issue("api.example.com"), CA.issue("api.example.com")
    https_port = free_port()
    with upstream() as target:
        control_plane = ControlPlane(tmp_path, "cp", f"sqlite:///{tmp_path / 'store.db'}")
        node = Node(
            tmp_path,
            "edge-1",
            [control_plane.sync_address],
            extra=("--https-listen", f"127.0.0.1:{https_port}"),
        )
        with running(node, control_plane):
            control_plane.start().wait_healthy()
            with control_plane.admin() as admin:
                service = {"name": "echo", "targets": [{"address": target}]}
                admin.post("/api/v1/services", json=service).raise_for_status()
                route = {"name": "one", "paths": ["/one/**"], "service": "echo"}
                admin.post("/api/v1/routes", json=route).raise_for_status()
                certificate = first.entity("api", ["api.example.com"])
                admin.post("/api/v1/certificates", json=certificate).raise_for_status()
            node.start().wait_ready()
            until(lambda: served_certificate(https_port), "the first certificate served")

            held = tls_connect(https_port)
            try:
                assert answers(held)
                assert held.getpeercert(binary_form=True) == served_certificate(https_port)
                before = served_certificate(https_port)
                with control_plane.admin() as admin:
                    body = renewed.entity("api", ["api.example.com"])
                    admin.put("/api/v1/certificates/api", json=body).raise_for_status()
                wanted = renewed.cert.public_bytes(serialization.Encoding.DER)
                until(
                    lambda: served_certificate(https_port) == wanted,
                    "the renewed certificate served to a new connection",
                )
                assert wanted != before
                assert answers(held)  # the open connection was not dropped
            finally:
                held.close()
