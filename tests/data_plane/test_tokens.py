"""Bearer token checks without sockets: every algorithm, every attack, claims on a set clock."""

from __future__ import annotations

import pytest
from fleetgate_pb import config_pb2 as pb

from data_plane.policies.tokens import (
    CACHE_SIZE,
    MAX_TOKEN,
    StaticKeys,
    TokenRefused,
    TokenVerifier,
    Verified,
)
from tests.data_plane.jwt_material import SECRET, forged, hs256_with, public_pem, token

NOW = 1_800_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


def verifier(
    algorithms: list[str],
    *,
    keys: tuple[str, ...] = ("rsa",),
    clock: Clock | None = None,
    **settings: object,
) -> TokenVerifier:
    secret = SECRET if any(a.startswith("HS") for a in algorithms) else ""
    jwt = pb.JwtSettings(
        algorithms=algorithms, secret=secret, leeway=settings.pop("leeway", 30.0), **settings
    )
    pems = [public_pem(kind) for kind in keys]
    return TokenVerifier(jwt, StaticKeys(secret, pems), clock or Clock())


def good(verifier: TokenVerifier, text: str) -> Verified:
    verified = verifier.verify(text.encode())
    assert isinstance(verified, Verified)
    return verified


def refused(verifier: TokenVerifier, text: str | bytes) -> str:
    with pytest.raises(TokenRefused) as caught:
        verifier.verify(text if isinstance(text, bytes) else text.encode())
    return str(caught.value)


CLAIMS = {"sub": "alice", "exp": NOW + 60}


@pytest.mark.parametrize(
    ("alg", "key"),
    [
        ("HS256", ""),
        ("HS384", ""),
        ("HS512", ""),
        ("RS256", "rsa"),
        ("RS384", "rsa"),
        ("RS512", "rsa"),
        ("PS256", "rsa"),
        ("ES256", "p256"),
        ("ES384", "p384"),
        ("EdDSA", "ed25519"),
    ],
)
def test_each_algorithm_verifies_with_a_key_of_its_family(alg: str, key: str) -> None:
    keys = (key,) if key else ()
    assert good(verifier([alg], keys=keys), token(CLAIMS, alg)).subject == "alice"


def test_a_token_signed_by_another_key_is_refused() -> None:
    assert "signature" in refused(verifier(["RS256"]), token(CLAIMS, "RS256", key="rsa-2"))


def test_one_of_several_public_keys_is_enough() -> None:
    both = verifier(["RS256"], keys=("rsa", "rsa-2"))
    assert good(both, token(CLAIMS, "RS256", key="rsa-2")).subject == "alice"


def test_alg_none_is_refused() -> None:
    for alg in ("none", "None", "NONE"):
        assert "algorithm" in refused(verifier(["RS256"]), forged({"alg": alg}, CLAIMS))


def test_an_hs_token_keyed_with_the_rs_public_key_is_refused() -> None:
    pem = public_pem("rsa").encode()
    attack = hs256_with(pem, {"alg": "HS256", "typ": "JWT"}, CLAIMS)
    assert "algorithm" in refused(verifier(["RS256"]), attack)
    # Even where HS256 is listed too, an HS token is only checked with the route's secret.
    assert "signature" in refused(verifier(["RS256", "HS256"]), attack)


def test_an_algorithm_the_route_does_not_list_is_refused() -> None:
    assert "algorithm" in refused(verifier(["RS256"]), token(CLAIMS, "RS384"))
    assert "algorithm" in refused(verifier(["RS256"]), token(CLAIMS, "PS256"))


def test_a_token_over_8_kib_is_refused_before_anything_else() -> None:
    big = token({**CLAIMS, "pad": "x" * MAX_TOKEN})
    assert "8192 bytes" in refused(verifier(["RS256"]), big)


@pytest.mark.parametrize("kid", ["../../etc/passwd", "k' OR '1'='1", "a/b", "", "k" * 129, 7])
def test_a_kid_that_is_not_a_plain_name_is_refused(kid: object) -> None:
    text = forged({"alg": "RS256", "kid": kid}, CLAIMS, b"x" * 256)
    assert "kid" in refused(verifier(["RS256"]), text)


@pytest.mark.parametrize(
    "text",
    [
        b"",
        b"abc",
        b"a.b",
        b"a.b.c.d",
        b"!!!.e30.x",
        b"e30.e30.x",  # {} as header: no alg
        b"W10.e30.x",  # [] as header
        b"eyJhbGciOiJSUzI1NiJ9.e30.***",
    ],
)
def test_malformed_tokens_are_refused(text: bytes) -> None:
    refused(verifier(["RS256"]), text)


def test_a_json_bomb_in_a_signed_payload_is_refused_not_raised() -> None:
    deep = b"[" * 2900 + b"]" * 2900
    signed = hs256_with(SECRET.encode(), {"alg": "HS256"}, deep)
    assert len(signed) <= MAX_TOKEN
    assert "payload" in refused(verifier(["HS256"], keys=()), signed)


def test_exp_is_checked_with_the_leeway() -> None:
    clock = Clock()
    v = verifier(["RS256"], clock=clock, leeway=30.0)
    assert good(v, token({"exp": NOW - 20}))
    assert "expired" in refused(v, token({"exp": NOW - 31}))
    clock.now += 11
    assert "expired" in refused(v, token({"exp": NOW - 20}))


def test_nbf_is_checked_with_the_leeway() -> None:
    v = verifier(["RS256"], leeway=30.0)
    assert good(v, token({"nbf": NOW + 20}))
    assert "not valid yet" in refused(v, token({"nbf": NOW + 31}))


def test_exp_and_nbf_must_be_finite_numbers() -> None:
    v = verifier(["RS256"])
    for claims in ({"exp": "soon"}, {"exp": True}, {"nbf": [1]}):
        refused(v, token(claims))
    text = hs256_with(SECRET.encode(), {"alg": "HS256"}, b'{"exp": NaN}')
    assert "exp" in refused(verifier(["HS256"], keys=()), text)


def test_iss_and_aud_are_checked() -> None:
    v = verifier(["RS256"], issuer="https://login.test/", audiences=["api", "web"])
    assert good(v, token({"iss": "https://login.test/", "aud": "api"}))
    assert good(v, token({"iss": "https://login.test/", "aud": ["other", "web"]}))
    assert "issuer" in refused(v, token({"iss": "https://evil.test/", "aud": "api"}))
    assert "issuer" in refused(v, token({"aud": "api"}))
    assert "audience" in refused(v, token({"iss": "https://login.test/", "aud": "other"}))
    assert "audience" in refused(v, token({"iss": "https://login.test/"}))


def test_roles_come_from_the_configured_claim_as_a_list_or_a_spaced_string() -> None:
    v = verifier(["RS256"], roles_claim="scope")
    assert good(v, token({"scope": "read write"})).roles == {"read", "write"}
    assert good(v, token({"scope": ["read", 3]})).roles == {"read"}
    assert good(v, token({"roles": ["admin"]})).roles == frozenset()


def test_a_repeat_token_is_answered_from_the_cache_until_it_expires() -> None:
    clock = Clock()
    v = verifier(["RS256"], clock=clock, leeway=0.0)
    text = token({"sub": "alice", "exp": NOW + 10})
    first = good(v, text)
    assert good(v, text) is first
    clock.now = NOW + 10
    assert "expired" in refused(v, text)
    assert v.cache == {}


def test_the_cache_is_bounded_and_forgets_the_least_recently_used() -> None:
    v = verifier(["HS256"], keys=())
    texts = [token({"n": i}, "HS256") for i in range(CACHE_SIZE + 1)]
    for text in texts:
        good(v, text)
    assert len(v.cache) == CACHE_SIZE
    assert texts[0].encode() not in v.cache and texts[-1].encode() in v.cache


def test_a_bad_token_is_never_cached() -> None:
    v = verifier(["RS256"])
    text = token(CLAIMS, "RS256", key="rsa-2")
    refused(v, text)
    assert v.cache == {}
