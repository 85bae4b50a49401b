"""The admin API's bearer token: where it comes from, and how a request's token is checked.

The token comes from `--admin-token` / `FLEETGATE_ADMIN_TOKEN`; without one, the token
the store already holds stays valid; on the very first start one is generated and
shown once. The store keeps only its sha256, and a request's token is compared in
constant time.
"""

from __future__ import annotations

import hmac
import secrets

from sqlalchemy.exc import IntegrityError

from .store.admin_token import store_sha256, stored_sha256, token_sha256
from .store.db import Database

GENERATED_TOKEN_BYTES = 32


class AdminAuth:
    """Checks `Authorization: Bearer <token>` against the admin token's sha256."""

    def __init__(self, token_sha256_hex: str) -> None:
        self._sha256 = token_sha256_hex.encode()

    def __repr__(self) -> str:
        return "<AdminAuth bearer>"

    @classmethod
    def for_token(cls, token: str) -> AdminAuth:
        return cls(token_sha256(token))

    def verify(self, authorization: str | None) -> bool:
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return False
        return hmac.compare_digest(token_sha256(token).encode(), self._sha256)


def bootstrap_admin_token(db: Database, given: str | None) -> tuple[AdminAuth, str | None]:
    """The admin token's check, plus the token itself when it was generated just now."""
    if given is not None:
        with db.session() as session:
            store_sha256(session, token_sha256(given))
            session.commit()
        return AdminAuth.for_token(given), None
    with db.session() as session:
        existing = stored_sha256(session)
    if existing is not None:
        return AdminAuth(existing), None
    token = secrets.token_urlsafe(GENERATED_TOKEN_BYTES)
    try:
        with db.session() as session:
            store_sha256(session, token_sha256(token))
            session.commit()
    except IntegrityError:
        # Another replica starting on the same store generated one first: use that one.
        with db.session() as session:
            existing = stored_sha256(session)
        if existing is None:
            raise
        return AdminAuth(existing), None
    return AdminAuth.for_token(token), token
