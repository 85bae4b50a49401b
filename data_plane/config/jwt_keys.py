"""Keys that verify JWTs: which algorithm goes with which kind of key, and loading them.

An algorithm is tied to a key family (RFC 7518): HS* to the route's shared secret,
RS* and PS256 to RSA keys, ES256 to P-256 and ES384 to P-384 keys, EdDSA to Ed25519 or
Ed448 keys. A token is only ever checked with keys of its algorithm's family, so an
RSA public key can never be used as an HMAC secret, whatever the token's header says.
The config checks and the node load keys with the same functions. cryptography is
imported by the functions that load keys, so a node whose routes use no public key
never loads it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

HMAC, RSA, P256, P384, OKP = "HMAC", "RSA", "EC P-256", "EC P-384", "OKP"
FAMILY_OF = {
    "HS256": HMAC,
    "HS384": HMAC,
    "HS512": HMAC,
    "RS256": RSA,
    "RS384": RSA,
    "RS512": RSA,
    "PS256": RSA,
    "ES256": P256,
    "ES384": P384,
    "EdDSA": OKP,
}
ALGORITHMS = tuple(FAMILY_OF)
MIN_RSA_BITS = 2048  # NIST SP 800-131A: shorter RSA keys are not acceptable
MIN_SECRET_BYTES = 32  # RFC 7518 3.2: an HS256 key at least as long as the hash
MAX_PUBLIC_KEYS = 16

PublicKey = Any  # one of the cryptography public key types above


def key_family(key: object) -> str:
    """The family of a public key object; raises ValueError for one no algorithm uses."""
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise ValueError(f"an RSA key of {key.key_size} bits; at least {MIN_RSA_BITS}")
        return RSA
    if isinstance(key, ec.EllipticCurvePublicKey):
        curve = key.curve.name
        if curve == "secp256r1":
            return P256
        if curve == "secp384r1":
            return P384
        raise ValueError(f"an EC key on curve {curve}; ES256 takes P-256, ES384 P-384")
    if isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        return OKP
    raise ValueError(f"a {type(key).__name__}, which no JWT algorithm here uses")


def jwt_keys_problem(
    algorithms: Sequence[str], secret: bool, families: Sequence[str], jwks: bool
) -> str | None:
    """Why these JWT settings cannot verify a token of each listed algorithm, or None."""
    unknown = [alg for alg in algorithms if alg not in FAMILY_OF]
    if unknown:
        return f"unknown algorithm(s) {', '.join(unknown)[:128]}; use {', '.join(ALGORITHMS)}"
    wanted = {FAMILY_OF[alg] for alg in algorithms}
    if HMAC in wanted and not secret:
        return "HS* algorithms need the shared secret"
    if secret and HMAC not in wanted:
        return "a secret is only used by HS* algorithms, and none is listed"
    if (families or jwks) and wanted == {HMAC}:
        return "public keys and jwks_url are only used by RS*, PS256, ES* and EdDSA"
    for family in sorted(wanted - {HMAC}):
        if not jwks and family not in families:
            names = [alg for alg in algorithms if FAMILY_OF[alg] == family]
            return f"{', '.join(names)} need a {family} key in public_keys, or a jwks_url"
    return None


def load_pem(pem: str) -> tuple[str, PublicKey]:
    """The family and key of a PEM public key or certificate; raises ValueError."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    data = pem.strip().encode()
    try:
        if data.startswith(b"-----BEGIN CERTIFICATE-----"):
            key: object = x509.load_pem_x509_certificate(data).public_key()
        else:
            key = load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"not a PEM public key or certificate: {exc}") from None
    return key_family(key), key


# The algorithm PyJWT parses a key type with (its `alg` member only restricts its use).
_PARSED_AS = {("RSA", None): "RS256", ("EC", "P-256"): "ES256", ("EC", "P-384"): "ES384"}


class Jwk:
    """One usable key of a JWKS document."""

    __slots__ = ("alg", "family", "key", "kid")

    def __init__(self, kid: str | None, family: str, key: PublicKey, alg: str | None) -> None:
        self.kid = kid
        self.family = family
        self.key = key
        self.alg = alg  # the one algorithm the key may be used with, or None: any of its family

    def __repr__(self) -> str:
        return f"<Jwk kid={self.kid} {self.family} alg={self.alg}>"


def load_jwk(jwk: object) -> Jwk:
    """One JWKS entry as a usable key; raises ValueError for one that is not."""
    # PyJWT parses the key material; imported here so that config checks need it only
    # when a document holds keys.
    from jwt import PyJWK

    if not isinstance(jwk, dict):
        raise ValueError("a JWKS key is a JSON object")
    kty = jwk.get("kty")
    if kty not in ("RSA", "EC", "OKP"):
        raise ValueError(f"key type {str(kty)[:16]!r} is not a public key type used here")
    if "d" in jwk:
        raise ValueError("a JWKS key holds private material: refused")
    use = jwk.get("use")
    if use is not None and use != "sig":
        raise ValueError(f"key use {str(use)[:16]!r} is not sig")
    kid = jwk.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise ValueError("kid is not a string")
    alg = jwk.get("alg")
    if alg is not None and alg not in FAMILY_OF:
        raise ValueError(f"alg {str(alg)[:16]!r} is not one of {', '.join(ALGORITHMS)}")
    parsed_as = "EdDSA" if kty == "OKP" else _PARSED_AS.get((kty, jwk.get("crv")))
    if parsed_as is None:
        raise ValueError(f"curve {str(jwk.get('crv'))[:16]!r} is not P-256 or P-384")
    try:
        key = PyJWK(jwk, parsed_as).key
    except Exception as exc:  # whatever the key material makes the parser raise
        raise ValueError(f"not a usable key: {exc}") from None
    family = key_family(key)
    if alg is not None and FAMILY_OF[alg] != family:
        raise ValueError(f"alg {alg} does not go with a {family} key")
    return Jwk(kid, family, key, alg)
