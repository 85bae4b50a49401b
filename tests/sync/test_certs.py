"""`fleetgate certs`: a CA, a server certificate and node client certificates."""

from __future__ import annotations

import ipaddress
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from control_plane.certs import make_certs
from control_plane.cli import main


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def sans(cert: x509.Certificate) -> list[str]:
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return [str(name.value) for name in names]


def usages(cert: x509.Certificate) -> list[x509.ObjectIdentifier]:
    return list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)


def test_the_command_writes_a_ca_a_server_and_a_node_certificate(tmp_path: Path) -> None:
    assert main(["certs", "--out", str(tmp_path), "--node", "edge-1"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "ca-key.pem",
        "ca.pem",
        "node-edge-1-key.pem",
        "node-edge-1.pem",
        "server-key.pem",
        "server.pem",
    ]


def test_the_server_certificate_covers_localhost_and_loopback_by_default(tmp_path: Path) -> None:
    make_certs(tmp_path, [], [])
    assert sans(load(tmp_path / "server.pem")) == ["localhost", "127.0.0.1"]
    assert usages(load(tmp_path / "server.pem")) == [ExtendedKeyUsageOID.SERVER_AUTH]


def test_server_names_become_dns_and_ip_subject_alternative_names(tmp_path: Path) -> None:
    make_certs(tmp_path, ["cp.example.com", "10.0.0.5"], [])
    cert = load(tmp_path / "server.pem")
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["cp.example.com"]
    assert names.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("10.0.0.5")]


def test_every_certificate_is_signed_by_the_ca(tmp_path: Path) -> None:
    make_certs(tmp_path, [], ["a", "b"])
    ca = load(tmp_path / "ca.pem")
    public_key = ca.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    for name in ("server.pem", "node-a.pem", "node-b.pem"):
        load(tmp_path / name).verify_directly_issued_by(ca)


def test_node_certificates_are_for_client_authentication(tmp_path: Path) -> None:
    make_certs(tmp_path, [], ["edge-1"])
    cert = load(tmp_path / "node-edge-1.pem")
    assert usages(cert) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert sans(cert) == ["edge-1"]


def test_private_keys_are_readable_by_their_owner_only(tmp_path: Path) -> None:
    make_certs(tmp_path, [], ["edge-1"])
    for key in tmp_path.glob("*-key.pem"):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_running_again_reuses_the_ca_to_add_a_node(tmp_path: Path) -> None:
    make_certs(tmp_path, [], ["edge-1"])
    ca_before = (tmp_path / "ca.pem").read_bytes()
    server_before = (tmp_path / "server.pem").read_bytes()
    written = make_certs(tmp_path, [], ["edge-2"])
    assert (tmp_path / "ca.pem").read_bytes() == ca_before
    assert (tmp_path / "server.pem").read_bytes() == server_before
    assert sorted(p.name for p in written) == ["node-edge-2-key.pem", "node-edge-2.pem"]
    load(tmp_path / "node-edge-2.pem").verify_directly_issued_by(load(tmp_path / "ca.pem"))


def test_a_new_ca_without_named_nodes_makes_one_node_certificate(tmp_path: Path) -> None:
    make_certs(tmp_path, [], [])
    assert (tmp_path / "node-node.pem").exists()


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["--node", "bad/name"], "--node"),
        (["--node", "edge-1\n"], "--node"),
        (["--server-name", "not a host"], "--server-name"),
        (["--server-name", "cp.internal\n"], "--server-name"),
    ],
)
def test_a_bad_name_is_refused_naming_the_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], flag: str
) -> None:
    assert main(["certs", "--out", str(tmp_path), *argv]) == 2
    assert flag in capsys.readouterr().err
    assert not (tmp_path / "ca.pem").exists()
