"""`/api/v1/certificates`: what the HTTPS listener serves, chosen by SNI name."""

from __future__ import annotations

from data_plane.config.model import CertificateSpec

from .crud import EntityDocs, entity_router
from .schemas import CertificateOut

router = entity_router(
    "certificates",
    CertificateSpec,
    CertificateOut,
    EntityDocs(
        noun="certificate",
        plural="certificates",
        create="`cert` is a PEM chain (the certificate, then each issuer), `key` its PEM "
        "private key: the key must match, the chain must be in order and not expired. The "
        "key is write-only: reads show its `key_sha256`, and a body with `key_sha256` "
        "instead of `key` keeps the stored key. A certificate expiring within 30 days is "
        "stored, with a `warnings` entry in the answer.",
        delete="Nothing refers to a certificate: deleting one always succeeds (new "
        "connections for its names then get the `default` certificate, if any).",
    ),
)
