"""What a TLS certificate entity holds, checked: its PEM chain, its key, its SNI names.

Pure functions over PEM text, shared by the config model (a chain that does not parse,
is out of order or does not match its key is refused wherever a config is read) and
the admin API, which alone looks at the clock: an expired certificate is refused at
the door, one that expires within `EXPIRY_WARNING` is stored with a warning. A stored
certificate that expires later is not a config error: the node goes on serving it and
the control plane's metrics show its expiry. cryptography is imported by the functions
that parse, so a node with no certificate never loads it.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography import x509

# A chain of ten RSA-4096 certificates is under 25 KB; a key under 4 KB.
MAX_CHAIN_CHARS = 64 * 1024
MAX_CHAIN_CERTIFICATES = 10
MAX_KEY_CHARS = 16 * 1024
MAX_SNIS = 100
EXPIRY_WARNING = timedelta(days=30)

# An SNI name: a DNS name in lower case, or a `*.` wildcard of one label; no port, no
# trailing dot (TLS clients send none, RFC 6066 3), no IP address (SNI carries none).
_LABEL = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
_SNI = re.compile(rf"(\*\.)?{_LABEL}(\.{_LABEL})+")
_CERT_BLOCK = re.compile(
    r"-----BEGIN CERTIFICATE-----\r?\n[A-Za-z0-9+/=\r\n]+-----END CERTIFICATE-----"
)
_KEY_BLOCK = re.compile(
    r"-----BEGIN (RSA |EC |)PRIVATE KEY-----\r?\n[A-Za-z0-9+/=\r\n]+-----END \1PRIVATE KEY-----"
)


@dataclass(frozen=True, slots=True)
class CertificateFacts:
    """What the admin API and the node need to know of a checked chain."""

    not_after: datetime  # of the leaf, UTC
    names: tuple[str, ...]  # the leaf's DNS names


def sni_problem(name: str) -> str | None:
    """Why `name` (lower case) is not an SNI name a certificate may claim, or None."""
    if len(name) > 253 or not _SNI.fullmatch(name) or name.rpartition(".")[2].isdigit():
        return f"not a DNS name or *.wildcard (no port, no trailing dot): {name[:64]!r}"
    return None


def key_sha256(key_pem: str) -> str:
    """The stored key's fingerprint as reads show it: `sha256sum key.pem` of the PEM text."""
    return hashlib.sha256(key_pem.encode()).hexdigest()


def check_chain(cert_pem: str) -> tuple[list[x509.Certificate], CertificateFacts]:
    """The chain's certificates, leaf first, and the leaf's facts; ValueError says why not."""
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature

    blocks = [m.group(0) for m in _CERT_BLOCK.finditer(cert_pem)]
    if not blocks:
        raise ValueError("cert: not a PEM certificate (-----BEGIN CERTIFICATE-----)")
    if len(blocks) > MAX_CHAIN_CERTIFICATES:
        raise ValueError(f"cert: at most {MAX_CHAIN_CERTIFICATES} certificates in a chain")
    leftover = _CERT_BLOCK.sub("", cert_pem).strip()
    if leftover:
        raise ValueError("cert: holds something else than PEM certificates")
    chain = []
    for i, block in enumerate(blocks):
        try:
            chain.append(x509.load_pem_x509_certificate(block.encode()))
        except ValueError:
            raise ValueError(f"cert: certificate {i} of the chain does not parse") from None
    for i in range(len(chain) - 1):
        child, issuer = chain[i], chain[i + 1]
        try:
            child.verify_directly_issued_by(issuer)
        except (ValueError, TypeError, InvalidSignature):
            raise ValueError(
                f"cert: certificate {i + 1} of the chain did not issue certificate {i}"
                " (the chain is leaf first, then each issuer)"
            ) from None
    leaf = chain[0]
    return chain, CertificateFacts(leaf.not_valid_after_utc, _dns_names(leaf))


def check_bundle(ca_pem: str) -> list[x509.Certificate]:
    """The CA certificates of a PEM bundle (any order); ValueError says why not."""
    from cryptography import x509

    blocks = [m.group(0) for m in _CERT_BLOCK.finditer(ca_pem)]
    if not blocks or _CERT_BLOCK.sub("", ca_pem).strip():
        raise ValueError("ca: not PEM certificates (-----BEGIN CERTIFICATE-----)")
    if len(blocks) > MAX_CHAIN_CERTIFICATES * 10:
        raise ValueError(f"ca: at most {MAX_CHAIN_CERTIFICATES * 10} certificates")
    try:
        return [x509.load_pem_x509_certificate(block.encode()) for block in blocks]
    except ValueError:
        raise ValueError("ca: a certificate does not parse") from None


def check_key(key_pem: str, leaf: x509.Certificate) -> None:
    """ValueError unless `key_pem` is one unencrypted PEM private key of `leaf`."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

    blocks = [m.group(0) for m in _KEY_BLOCK.finditer(key_pem)]
    if len(blocks) != 1 or _KEY_BLOCK.sub("", key_pem).strip():
        raise ValueError("key: not one PEM private key (-----BEGIN PRIVATE KEY-----)")
    try:
        key: PrivateKeyTypes = serialization.load_pem_private_key(blocks[0].encode(), None)
    except TypeError:
        raise ValueError("key: an encrypted key cannot be served; give it decrypted") from None
    except (ValueError, UnsupportedAlgorithm):
        raise ValueError("key: the private key does not parse") from None
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    if key.public_key().public_bytes(der, public) != leaf.public_key().public_bytes(der, public):
        raise ValueError("key: does not match the certificate (the first of the chain)")


def expiry_problem(facts: CertificateFacts, now: datetime) -> tuple[str | None, str | None]:
    """(why the certificate is refused, what to warn of) at `now`; None when nothing."""
    left = facts.not_after - now
    when = facts.not_after.strftime("%Y-%m-%d %H:%M UTC")
    if left <= timedelta(0):
        return f"cert: expired on {when}", None
    if left <= EXPIRY_WARNING:
        return None, f"the certificate expires in {left.days} days, on {when}"
    return None, None


def _dns_names(cert: x509.Certificate) -> tuple[str, ...]:
    from cryptography import x509

    try:
        extension = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return ()
    return tuple(n.lower() for n in extension.value.get_values_for_type(x509.DNSName))
