"""Keys and tokens for the JWT tests: real keys of each family, honest and forged tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from functools import cache
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

SECRET = "a-shared-secret-for-hs-tokens-" + "0123456789abcdef" * 3
PrivateKey = Any


@cache
def private_key(kind: str) -> PrivateKey:
    """One private key per kind ("rsa", "rsa-2", "p256", "p384", "ed25519"), made once."""
    if kind.startswith("rsa"):
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if kind == "p256":
        return ec.generate_private_key(ec.SECP256R1())
    if kind == "p384":
        return ec.generate_private_key(ec.SECP384R1())
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(kind)


def public_pem(kind: str) -> str:
    return (
        private_key(kind)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def public_jwk(kind: str, kid: str) -> dict[str, Any]:
    """The public half of a key as a JWKS entry."""
    algorithm = {"rsa": "RS256", "p256": "ES256", "p384": "ES384", "ed25519": "EdDSA"}
    name = algorithm["rsa" if kind.startswith("rsa") else kind]
    data = json.loads(
        jwt.get_algorithm_by_name(name).to_jwk(private_key(kind).public_key())  # type: ignore[attr-defined]
    )
    return {**data, "kid": kid, "use": "sig"}


KEY_OF_ALGORITHM = {
    "RS256": "rsa",
    "RS384": "rsa",
    "RS512": "rsa",
    "PS256": "rsa",
    "ES256": "p256",
    "ES384": "p384",
    "EdDSA": "ed25519",
}


def token(
    claims: dict[str, Any], alg: str = "RS256", *, kid: str | None = None, key: str = ""
) -> str:
    """A token signed as a real issuer would; `key` picks another key of the family."""
    headers = {"kid": kid} if kid is not None else None
    signing: Any = SECRET if alg.startswith("HS") else private_key(key or KEY_OF_ALGORITHM[alg])
    return jwt.encode(claims, signing, algorithm=alg, headers=headers)


def b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def forged(header: dict[str, Any], payload: dict[str, Any] | bytes, signature: bytes = b"") -> str:
    """A token put together by hand, signed with `signature` as given."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return (b64(json.dumps(header).encode()) + b"." + b64(body) + b"." + b64(signature)).decode()


def hs256_with(secret: bytes, header: dict[str, Any], payload: dict[str, Any] | bytes) -> str:
    """An HS256 token keyed with `secret` (the RS-public-key-as-HMAC-secret attack, or an
    honest one carrying a payload no encoder would write)."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    signing = b64(json.dumps(header).encode()) + b"." + b64(body)
    mac = hmac.new(secret, signing, hashlib.sha256).digest()
    return (signing + b"." + b64(mac)).decode()
