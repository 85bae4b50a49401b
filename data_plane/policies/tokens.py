"""Bearer tokens (JWT, RFC 7519) checked for the auth policy, and remembered once good.

A token is refused before any cryptography when it is over 8 KiB, not three base64url
parts, or its header is not a small JSON object naming an algorithm the route lists
(`alg: none` never is) with a `kid`, when present, of plain characters. Its signature
is checked with PyJWT's algorithm objects against the keys of that algorithm's family
only (`config/jwt_keys.py`): the route's secret for HS*, public keys for the others.
Then the claims, on the wall clock passed in: `exp` and `nbf` with the leeway, `iss`,
`aud`. The payload is only parsed once the signature holds.

A good token is kept in a bounded LRU, keyed by the token, until its `exp` (plus the
leeway) passes: a repeat token costs a dict lookup. What is kept is what the token says
(subject, roles), not the consumer: the consumers come with each snapshot.
"""

from __future__ import annotations

import binascii
import json
import math
import re
from base64 import b64decode
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from functools import cache
from typing import TYPE_CHECKING, Any, Protocol

from fleetgate_pb import config_pb2 as pb

from data_plane.config.jwt_keys import FAMILY_OF, HMAC, PublicKey, load_pem

from .jwks import jwks_keys

if TYPE_CHECKING:
    from jwt.algorithms import Algorithm

MAX_TOKEN = 8192  # bytes; RFC 7519 sets none, and common servers cap headers at 8 KiB
CACHE_SIZE = 4096  # good tokens kept per verifier
MAX_ROLES = 64  # roles read from one token
# A kid names a key; one with path, quote or SQL characters names none.
KID = re.compile(r"[A-Za-z0-9._:+=-]{1,128}")
_NEVER = float("inf")


class TokenRefused(Exception):
    """Why a bearer token is not good; the message is safe to send back."""


class Verified:
    """What a good token says: who, with which roles, until when."""

    __slots__ = ("expires", "roles", "subject")

    def __init__(self, subject: str | None, roles: frozenset[str], expires: float) -> None:
        self.subject = subject
        self.roles = roles
        self.expires = expires  # exp plus the leeway; inf without exp

    def __repr__(self) -> str:
        return f"<Verified sub={self.subject} roles={sorted(self.roles)} expires={self.expires}>"


class KeySource(Protocol):
    """Where a verifier finds keys: the route's own (StaticKeys), or a JWKS."""

    def keys(self, family: str, alg: str, kid: str | None) -> list[PublicKey] | None:
        """The keys to try for a token; None: the kid is unknown (a JWKS may learn it)."""

    def refresh(self) -> Awaitable[object] | None:
        """Fetch the keys again after an unknown kid: an awaitable that is done when the
        fetch is, or None when no fetch may be made now."""


class StaticKeys(KeySource):
    """The route's secret and PEM public keys; a kid is not needed to find them."""

    __slots__ = ("by_family",)

    def __init__(self, secret: str, public_keys: list[str]) -> None:
        self.by_family: dict[str, list[PublicKey]] = {}
        if secret:
            self.by_family[HMAC] = [secret.encode()]
        for pem in public_keys:
            family, key = load_pem(pem)
            self.by_family.setdefault(family, []).append(key)

    def keys(self, family: str, alg: str, kid: str | None) -> list[PublicKey] | None:
        return self.by_family.get(family, [])

    def refresh(self) -> Awaitable[object] | None:
        return None

    def __repr__(self) -> str:
        return f"<StaticKeys {sorted((f, len(k)) for f, k in self.by_family.items())}>"


class BothKeys:
    """The route's own keys and a JWKS's, together."""

    __slots__ = ("fetched", "own")

    def __init__(self, own: StaticKeys, fetched: KeySource) -> None:
        self.own = own
        self.fetched = fetched

    def keys(self, family: str, alg: str, kid: str | None) -> list[PublicKey] | None:
        own = self.own.keys(family, alg, kid) or []
        fetched = self.fetched.keys(family, alg, kid)
        if fetched is None:
            return own or None
        return own + fetched

    def refresh(self) -> Awaitable[object] | None:
        return self.fetched.refresh()

    def __repr__(self) -> str:
        return f"<BothKeys {self.own!r} {self.fetched!r}>"


def key_source(settings: pb.JwtSettings) -> KeySource:
    """Where a route with `settings` finds keys."""
    own = StaticKeys(settings.secret, list(settings.public_keys))
    if not settings.jwks_url:
        return own
    fetched = jwks_keys(settings.jwks_url)
    return BothKeys(own, fetched) if own.by_family else fetched


class TokenVerifier:
    """One route's JWT settings, compiled, with the route's cache of good tokens."""

    __slots__ = (
        "algorithms",
        "audiences",
        "cache",
        "clock",
        "issuer",
        "leeway",
        "roles_claim",
        "source",
    )

    def __init__(self, settings: pb.JwtSettings, source: KeySource, clock: Callable[[], float]):
        self.algorithms = frozenset(settings.algorithms)
        self.issuer = settings.issuer or None
        self.audiences = frozenset(settings.audiences)
        self.leeway = settings.leeway
        self.roles_claim = settings.roles_claim or "roles"
        self.source = source
        self.clock = clock
        self.cache: OrderedDict[bytes, Verified] = OrderedDict()
        _algorithms()  # PyJWT is loaded with the config, not on a request

    def known(self, token: bytes) -> Verified | None:
        """What `token` says if it was verified before and has not expired since, else
        None (`verify` then decides it)."""
        known = self.cache.get(token)
        if known is not None and self.clock() < known.expires:
            self.cache.move_to_end(token)
            return known
        return None

    def verify(self, token: bytes) -> Verified | Awaitable[Verified]:
        """What `token` says, or (when its kid must be fetched) an awaitable of it;
        raises TokenRefused."""
        cache = self.cache
        known = cache.get(token)
        if known is not None:
            if self.clock() < known.expires:
                cache.move_to_end(token)
                return known
            del cache[token]
        if len(token) > MAX_TOKEN:
            raise TokenRefused(f"the token is over {MAX_TOKEN} bytes")
        parts = token.split(b".")
        if len(parts) != 3:
            raise TokenRefused("the token is not three base64url parts")
        header = _json_object(parts[0], "header")
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self.algorithms:
            raise TokenRefused("the token's algorithm is not one this route accepts")
        if "crit" in header:
            raise TokenRefused("the token names critical header parameters")
        kid = header.get("kid")
        if kid is not None and not (isinstance(kid, str) and KID.fullmatch(kid)):
            raise TokenRefused("the token's kid is not a key name")
        keys = self.source.keys(FAMILY_OF[alg], alg, kid)
        if keys is None:
            refreshing = self.source.refresh()
            if refreshing is None:
                raise TokenRefused("the token's kid names no known key")
            return self._after_refresh(refreshing, token, parts, alg, kid)
        return self._check(token, parts, alg, keys)

    async def _after_refresh(
        self,
        refreshing: Awaitable[object],
        token: bytes,
        parts: list[bytes],
        alg: str,
        kid: str | None,
    ) -> Verified:
        await refreshing
        keys = self.source.keys(FAMILY_OF[alg], alg, kid)
        if keys is None:
            raise TokenRefused("the token's kid names no known key")
        return self._check(token, parts, alg, keys)

    def _check(self, token: bytes, parts: list[bytes], alg: str, keys: list[PublicKey]) -> Verified:
        signature = _b64(parts[2], "signature")
        signed = parts[0] + b"." + parts[1]
        algorithm = _algorithms()[alg]
        if not any(algorithm.verify(signed, key, signature) for key in keys):
            raise TokenRefused("the token's signature does not verify")
        claims = _json_object(parts[1], "payload")
        verified = self._claims(claims)
        cache = self.cache
        cache[token] = verified
        if len(cache) > CACHE_SIZE:
            cache.popitem(last=False)
        return verified

    def _claims(self, claims: dict[str, Any]) -> Verified:
        now = self.clock()
        leeway = self.leeway
        expires = _NEVER
        exp = claims.get("exp")
        if exp is not None:
            if not _is_number(exp):
                raise TokenRefused("exp is not a number")
            expires = exp + leeway
            if now >= expires:
                raise TokenRefused("the token has expired")
        nbf = claims.get("nbf")
        if nbf is not None:
            if not _is_number(nbf):
                raise TokenRefused("nbf is not a number")
            if now + leeway < nbf:
                raise TokenRefused("the token is not valid yet")
        if self.issuer is not None and claims.get("iss") != self.issuer:
            raise TokenRefused("the token's issuer is not the one this route accepts")
        if self.audiences:
            aud = claims.get("aud")
            named = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
            if not any(isinstance(a, str) and a in self.audiences for a in named):
                raise TokenRefused("the token is not meant for this route's audience")
        subject = claims.get("sub")
        if subject is not None and not isinstance(subject, str):
            raise TokenRefused("sub is not a string")
        return Verified(subject, _roles(claims.get(self.roles_claim)), expires)

    def __repr__(self) -> str:
        return f"<TokenVerifier {sorted(self.algorithms)} {self.source!r} cached={len(self.cache)}>"


@cache
def _algorithms() -> dict[str, Algorithm]:
    """PyJWT's algorithms by name, loaded with the first route that takes JWTs: a node
    whose routes take none never loads PyJWT and cryptography."""
    from jwt.algorithms import get_default_algorithms

    return {
        name: algorithm for name, algorithm in get_default_algorithms().items() if name in FAMILY_OF
    }


def _b64(part: bytes, what: str) -> bytes:
    try:
        return b64decode(part + b"=" * (-len(part) % 4), b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise TokenRefused(f"the token's {what} is not base64url") from None


def _json_object(part: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(_b64(part, what))
    except (ValueError, RecursionError):
        raise TokenRefused(f"the token's {what} is not JSON") from None
    if not isinstance(value, dict):
        raise TokenRefused(f"the token's {what} is not a JSON object")
    return value


def _is_number(value: object) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, int) and not isinstance(value, bool)


def _roles(claim: object) -> frozenset[str]:
    """Roles from a claim: a list of strings, or one space-separated string (as `scope`)."""
    if isinstance(claim, str):
        return frozenset(claim.split()[:MAX_ROLES])
    if isinstance(claim, list):
        return frozenset(role for role in claim[:MAX_ROLES] if isinstance(role, str))
    return frozenset()
