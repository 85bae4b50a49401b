"""`fleetgate certs`: a CA, a server certificate and node client certificates for the sync stream.

The config-sync stream runs over TLS with client certificates in production
(DESIGN.md, config sync rule 10): the control plane presents `server.pem` and accepts
only nodes whose certificate the same CA signed. Running the command again reuses the
CA in `--out`, so new nodes can be added later with `--node NAME`. A node certificate
names its node (common name and DNS name): the control plane admits it for that node
id only.
"""

from __future__ import annotations

import argparse
import datetime
import ipaddress
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEFAULT_SERVER_NAMES = ("localhost", "127.0.0.1")
DEFAULT_NODE = "node"
NODE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
DNS_NAME = re.compile(
    r"(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
)
CA_DAYS = 3650
LEAF_DAYS = 825  # the longest a publicly trusted leaf was allowed; a sane ceiling here too


class CertsError(ValueError):
    """A bad flag; the message names it."""


@dataclass(frozen=True, slots=True)
class Issuer:
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate


def run(args: argparse.Namespace) -> int:
    try:
        written = make_certs(Path(args.out), args.server_name, args.node)
    except CertsError as exc:
        print(f"fleetgate certs: {exc}", file=sys.stderr)
        return 2
    for path in written:
        print(f"wrote {path}", file=sys.stderr)
    _print_usage(Path(args.out), args.node)
    return 0


def make_certs(out: Path, server_names: list[str], nodes: list[str]) -> list[Path]:
    """Write what is missing or asked for; returns the files written."""
    for name in nodes:
        if not NODE_NAME.fullmatch(name):
            raise CertsError(f"--node {name!r}: use letters, digits and . _ - (at most 63)")
    sans = [_subject_alt_name(name) for name in server_names or DEFAULT_SERVER_NAMES]
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    issuer = _load_issuer(out)
    if issuer is None:
        issuer = _new_ca()
        written += _write_pair(out, "ca", issuer.key, issuer.cert)
        nodes = nodes or [DEFAULT_NODE]
    if server_names or not (out / "server.pem").exists():
        key = _new_key()
        cert = _leaf(issuer, key, sans[0], sans, ExtendedKeyUsageOID.SERVER_AUTH)
        written += _write_pair(out, "server", key, cert)
    for name in nodes:
        key = _new_key()
        cert = _leaf(
            issuer, key, x509.DNSName(name), [x509.DNSName(name)], ExtendedKeyUsageOID.CLIENT_AUTH
        )
        written += _write_pair(out, f"node-{name}", key, cert)
    return written


def demo_certificate(names: tuple[str, ...] = DEFAULT_SERVER_NAMES) -> tuple[str, str]:
    """A certificate for `names` and its key, as PEM text, from a CA made and forgotten:
    what `fleetgate up` serves on its HTTPS port (clients will not trust it)."""
    sans = [_subject_alt_name(name) for name in names]
    key = _new_key()
    cert = _leaf(_new_ca(), key, sans[0], sans, ExtendedKeyUsageOID.SERVER_AUTH)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem.decode()


# ---------------------------------------------------------------- building certificates


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "fleetgate"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _new_ca() -> Issuer:
    key = _new_key()
    now = datetime.datetime.now(datetime.UTC)
    name = _name("fleetgate sync CA")
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Issuer(key, cert)


def _leaf(
    issuer: Issuer,
    key: ec.EllipticCurvePrivateKey,
    subject: x509.GeneralName,
    sans: list[x509.GeneralName],
    usage: x509.ObjectIdentifier,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(_name(str(subject.value)))
        .issuer_name(issuer.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=LEAF_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=True,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
            critical=False,
        )
        .sign(issuer.key, hashes.SHA256())
    )


def _subject_alt_name(value: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(value))
    except ValueError:
        pass
    if not DNS_NAME.fullmatch(value) or len(value) > 253:
        raise CertsError(f"--server-name {value!r}: not a DNS name or an IP address")
    return x509.DNSName(value.lower())


# ---------------------------------------------------------------- files


def _load_issuer(out: Path) -> Issuer | None:
    cert_path, key_path = out / "ca.pem", out / "ca-key.pem"
    if not (cert_path.exists() and key_path.exists()):
        return None
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except ValueError as exc:
        raise CertsError(f"--out: {out} holds a CA that cannot be read: {exc}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise CertsError(f"--out: {key_path} is not an EC key made by fleetgate certs")
    return Issuer(key, cert)


def _write_pair(
    out: Path, stem: str, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate
) -> list[Path]:
    key_path = out / f"{stem}-key.pem"
    cert_path = out / f"{stem}.pem"
    _write(
        key_path,
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        mode=0o600,
    )
    _write(cert_path, cert.public_bytes(serialization.Encoding.PEM), mode=0o644)
    return [cert_path, key_path]


def _write(path: Path, data: bytes, *, mode: int) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.replace(temporary, path)


def _print_usage(out: Path, nodes: list[str]) -> None:
    node = nodes[0] if nodes else DEFAULT_NODE
    print(
        "\nuse them with:\n"
        f"  fleetgate control-plane --tls-cert {out}/server.pem --tls-key {out}/server-key.pem"
        f" --tls-ca {out}/ca.pem ...\n"
        f"  fleetgate data-plane --node-id {node} --tls-cert {out}/node-{node}.pem"
        f" --tls-key {out}/node-{node}-key.pem --tls-ca {out}/ca.pem ...\n"
        "a node certificate admits only the node id it names",
        file=sys.stderr,
    )
