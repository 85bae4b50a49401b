"""The node's HTTPS listener on a real process: certificates by SNI, HTTP/1.1 over TLS 1.2+,
resumption, https_only, and handshakes that fail closed and counted."""

from __future__ import annotations

import os
import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from tests.conftest import free_port
from tests.data_plane.running_node import RunningNode, read_response
from tests.data_plane.scripted_upstream import ScriptedUpstream

from .pki import Authority, common_name

pytestmark = pytest.mark.e2e

CA = Authority.new()
API = CA.issue("api.example.com")
ORG_EXACT = CA.issue("api.example.org")
ORG_WILD = CA.issue("*.example.org")
DEFAULT = CA.issue("localhost")
WAIT = 10.0


def config(upstream: str, *, default: bool = True, **route: Any) -> dict[str, Any]:
    certificates = [
        API.entity("api", ["api.example.com"]),
        ORG_EXACT.entity("org-exact", ["api.example.org"]),
        ORG_WILD.entity("org-wild", ["*.example.org"]),
    ]
    if default:
        certificates.append(DEFAULT.entity("default", []))
    return {
        "services": [{"name": "app", "targets": [{"address": upstream}]}],
        "routes": [{"name": "all", "paths": ["/**"], "service": "app", **route}],
        "certificates": certificates,
    }


@pytest.fixture(scope="module")
def upstream() -> Iterator[ScriptedUpstream]:
    with ScriptedUpstream() as server:
        yield server


@pytest.fixture(scope="module")
def node(
    tmp_path_factory: pytest.TempPathFactory, upstream: ScriptedUpstream
) -> Iterator[RunningNode]:
    directory = tmp_path_factory.mktemp("https-node")
    running = RunningNode(directory, config(upstream.address), https=True).start()
    try:
        yield running
    finally:
        running.stop()


def client_context() -> ssl.SSLContext:
    context = ssl.create_default_context(cadata=CA.pem)
    context.set_alpn_protocols(["http/1.1"])
    return context


def tls_connect(
    node: RunningNode,
    server_name: str | None,
    *,
    context: ssl.SSLContext | None = None,
    session: ssl.SSLSession | None = None,
) -> ssl.SSLSocket:
    context = context or client_context()
    if server_name is None:
        context.check_hostname = False
    raw = socket.create_connection(("127.0.0.1", node.https_port), timeout=WAIT)
    return context.wrap_socket(raw, server_hostname=server_name, session=session)


def seen_name(sock: ssl.SSLSocket) -> str:
    der = sock.getpeercert(binary_form=True)
    assert der is not None
    return common_name(x509.load_der_x509_certificate(der))


def get(sock: socket.socket, path: str = "/", host: str = "api.example.com") -> Any:
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    return read_response(sock)


# ---------------------------------------------------------------- which certificate


@pytest.mark.parametrize(
    ("server_name", "served"),
    [
        ("api.example.com", "api.example.com"),
        ("api.example.org", "api.example.org"),  # exact before wildcard
        ("www.example.org", "*.example.org"),
        ("a.b.example.org", "localhost"),  # a wildcard covers one label only
        ("unknown.example.net", "localhost"),
    ],
)
def test_the_certificate_is_chosen_by_sni_exact_then_wildcard_then_default(
    node: RunningNode, server_name: str, served: str
) -> None:
    context = client_context()
    context.check_hostname = False  # the default does not name what was asked
    with tls_connect(node, server_name, context=context) as sock:
        assert seen_name(sock) == served


def test_a_client_sending_no_server_name_gets_the_default_certificate(node: RunningNode) -> None:
    with tls_connect(node, None) as sock:
        assert seen_name(sock) == "localhost"


def test_tls_1_2_and_1_3_are_served_with_http_1_1_by_alpn(node: RunningNode) -> None:
    for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        context = client_context()
        context.minimum_version = context.maximum_version = version
        with tls_connect(node, "api.example.com", context=context) as sock:
            assert sock.version() == version.name.replace("v1_", "v1.")
            assert sock.selected_alpn_protocol() == "http/1.1"
            assert get(sock).status == 200


# ---------------------------------------------------------------- requests over TLS


def test_a_request_over_https_goes_upstream_with_x_forwarded_proto_https(
    node: RunningNode, upstream: ScriptedUpstream
) -> None:
    upstream.clear()
    with tls_connect(node, "api.example.com") as sock:
        assert get(sock, "/over-tls").status == 200
        assert get(sock, "/again").status == 200  # keep-alive over TLS
    received = upstream.wait_for(2)
    assert [r.header("x-forwarded-proto") for r in received] == ["https", "https"]
    upstream.clear()
    assert node.get("/plain").status == 200
    assert upstream.wait_for(1)[0].header("x-forwarded-proto") == "http"


def test_a_session_is_resumed_on_the_next_connection(node: RunningNode) -> None:
    context = client_context()
    with tls_connect(node, "api.example.com", context=context) as first:
        assert get(first).status == 200  # the ticket arrives after the handshake
        session = first.session
        assert not first.session_reused
    assert session is not None
    with tls_connect(node, "api.example.com", context=context, session=session) as second:
        assert second.session_reused
        assert get(second).status == 200


def test_a_gateway_answer_that_ends_the_connection_closes_it_over_tls(tmp_path: Path) -> None:
    """TLS has no half-close: the answer is sent, then the connection really closes."""
    nobody = f"127.0.0.1:{free_port()}"  # nothing listens: every request is a 502
    node = RunningNode(tmp_path, config(nobody), https=True).start()
    try:
        with tls_connect(node, "api.example.com") as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: api.example.com\r\nConnection: close\r\n\r\n")
            assert read_response(sock).status == 502
            assert closed_by_peer(sock)
    finally:
        node.stop()


def test_a_body_too_large_over_tls_is_answered_413_and_the_connection_closes(
    tmp_path: Path, upstream: ScriptedUpstream
) -> None:
    node = RunningNode(tmp_path, config(upstream.address, max_body_bytes=10), https=True).start()
    try:
        with tls_connect(node, "api.example.com") as sock:
            sock.sendall(
                b"POST /big HTTP/1.1\r\nHost: api.example.com\r\nContent-Length: 100\r\n\r\n"
            )
            assert read_response(sock).status == 413
            assert closed_by_peer(sock)
    finally:
        node.stop()


# ---------------------------------------------------------------- failed handshakes


def closed_by_peer(sock: socket.socket) -> bool:
    """True when the node closes `sock` (an alert and EOF, or a reset) within WAIT."""
    sock.settimeout(WAIT)
    try:
        while sock.recv(4096):
            pass
    except ConnectionResetError:
        pass
    except TimeoutError:
        return False
    return True


def tls10_client_hello() -> bytes:
    """A ClientHello offering TLS 1.0 only, as an old client sends it."""
    body = (
        b"\x03\x01"
        + os.urandom(32)
        + b"\x00"  # version, random, no session id
        + b"\x00\x04\x00\x2f\x00\x35"  # two TLS 1.0 cipher suites
        + b"\x01\x00"  # no compression
    )
    handshake = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + len(handshake).to_bytes(2, "big") + handshake


@pytest.mark.parametrize(
    ("sent", "reason"),
    [
        (b"GET / HTTP/1.1\r\nHost: api.example.com\r\n\r\n", "failed"),
        (os.urandom(512), "failed"),
        (tls10_client_hello(), "failed"),
    ],
    ids=["plain-http", "garbage", "tls-1.0-only"],
)
def test_a_failed_handshake_is_closed_and_counted(
    node: RunningNode, sent: bytes, reason: str
) -> None:
    before = node.metric("fleetgate_tls_handshake_failures_total", reason=reason)
    with socket.create_connection(("127.0.0.1", node.https_port), timeout=WAIT) as sock:
        sock.sendall(sent)
        assert closed_by_peer(sock)
    wait_for_count(node, reason, before)


def wait_for_count(node: RunningNode, reason: str, before: float) -> None:
    deadline = time.monotonic() + WAIT
    while node.metric("fleetgate_tls_handshake_failures_total", reason=reason) <= before:
        assert time.monotonic() < deadline, node.metrics()
        time.sleep(0.05)


def test_a_stalled_handshake_is_closed_after_the_header_timeout_and_counted(
    tmp_path: Path, upstream: ScriptedUpstream
) -> None:
    env = {"FLEETGATE_HEADER_TIMEOUT": "1"}
    node = RunningNode(tmp_path, config(upstream.address), https=True, env=env).start()
    try:
        with socket.create_connection(("127.0.0.1", node.https_port), timeout=WAIT) as sock:
            sock.sendall(b"\x16\x03\x01")  # the start of a record, and nothing more
            assert closed_by_peer(sock)
        wait_for_count(node, "timeout", 0)
    finally:
        node.stop()


def test_stalled_handshakes_do_not_keep_others_from_being_served(node: RunningNode) -> None:
    stalled = [
        socket.create_connection(("127.0.0.1", node.https_port), timeout=WAIT) for _ in range(50)
    ]
    try:
        for sock in stalled:
            sock.sendall(b"\x16\x03\x01")  # the start of a record, and nothing more
        with tls_connect(node, "api.example.com") as sock:
            assert get(sock).status == 200
    finally:
        for sock in stalled:
            sock.close()


# ---------------------------------------------------------------- https_only, no default


def test_an_https_only_route_redirects_plain_http_with_308(
    tmp_path: Path, upstream: ScriptedUpstream
) -> None:
    node = RunningNode(tmp_path, config(upstream.address, https_only=True), https=True).start()
    try:
        plain = node.request(b"GET /a/b?c=d HTTP/1.1\r\nHost: api.example.com:8080\r\n\r\n")
        assert plain.status == 308
        assert plain.header("location") == f"https://api.example.com:{node.https_port}/a/b?c=d"
        with tls_connect(node, "api.example.com") as sock:
            assert get(sock, "/a/b").status == 200
    finally:
        node.stop()


def test_without_a_default_certificate_an_unknown_name_is_refused_and_counted(
    tmp_path: Path, upstream: ScriptedUpstream
) -> None:
    node = RunningNode(tmp_path, config(upstream.address, default=False), https=True).start()
    try:
        context = client_context()
        context.check_hostname = False
        with pytest.raises(ssl.SSLError):
            tls_connect(node, "unknown.example.net", context=context)
        assert node.metric("fleetgate_tls_handshake_failures_total", reason="failed") >= 1
        with tls_connect(node, "api.example.com") as sock:
            assert get(sock).status == 200
    finally:
        node.stop()


def test_a_new_certificate_is_served_to_new_connections_and_open_ones_keep_theirs(
    tmp_path: Path, upstream: ScriptedUpstream
) -> None:
    node = RunningNode(tmp_path, config(upstream.address), https=True).start()
    try:
        held = tls_connect(node, "api.example.com")
        assert get(held).status == 200
        first = held.getpeercert(binary_form=True)
        renewed = CA.issue("api.example.com")
        document = config(upstream.address)
        document["certificates"][0] = renewed.entity("api", ["api.example.com"])
        node.write_config(document)
        node.signal(1)  # SIGHUP: read the file again
        deadline = time.monotonic() + WAIT
        while True:
            with tls_connect(node, "api.example.com") as sock:
                if sock.getpeercert(binary_form=True) != first:
                    break
            assert time.monotonic() < deadline, node.log()
            time.sleep(0.05)
        assert get(held).status == 200  # the open connection was not dropped
        held.close()
    finally:
        node.stop()
