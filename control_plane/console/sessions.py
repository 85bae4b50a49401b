"""Console sign-in sessions, and the CSRF tokens their forms carry.

Signing in with the admin token opens a session: a random 256-bit id in an HttpOnly,
SameSite=Strict cookie. This process keeps only the id's sha256 and when it expires, so
signing out ends a session for good and a restart ends them all (a replica knows only
the sessions opened on it). A form's CSRF token is an HMAC of the session id under a
secret of this process: another site can neither read it nor make one. The sign-in
form has no session yet; its token is a random value that is also set as a cookie
(double submit), so a sign-in can only be posted from a page the console served.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable

SESSION_COOKIE = "fleetgate_session"
SIGN_IN_COOKIE = "fleetgate_sign_in"
SESSION_LIFETIME = 8 * 3600.0  # seconds: a working day, then the token is asked for again
# Sessions held at once; past it the oldest is ended. An operator signs in from a few
# browsers, not thousands: the bound only keeps a flood of sign-ins from growing memory.
MAX_SESSIONS = 1000
ID_BYTES = 32
# A cookie or form value longer than this is not one of ours; it is refused unread.
MAX_TOKEN_LENGTH = 128


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def new_sign_in_token() -> str:
    """The double-submit token of a sign-in form (cookie and hidden field)."""
    return secrets.token_urlsafe(ID_BYTES)


def same_token(expected: str | None, given: str | None) -> bool:
    """Whether two tokens are present, of a sane length, and equal (constant time)."""
    if not expected or not given or max(len(expected), len(given)) > MAX_TOKEN_LENGTH:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


class ConsoleSessions:
    """The console sessions open on this process, by the sha256 of their id."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        lifetime: float = SESSION_LIFETIME,
        capacity: int = MAX_SESSIONS,
    ) -> None:
        self._clock = clock
        self._lifetime = lifetime
        self._capacity = capacity
        self._secret = secrets.token_bytes(ID_BYTES)
        # sha256(id) -> expiry; insertion order is age, so the first one is the oldest.
        self._expiry: dict[str, float] = {}

    def __repr__(self) -> str:
        return f"<ConsoleSessions open={len(self._expiry)} capacity={self._capacity}>"

    def open(self) -> str:
        """A new session's id, for the cookie; only its digest is kept."""
        now = self._clock()
        for digest in [d for d, expiry in self._expiry.items() if expiry <= now]:
            del self._expiry[digest]
        while len(self._expiry) >= self._capacity:
            del self._expiry[next(iter(self._expiry))]
        session_id = secrets.token_urlsafe(ID_BYTES)
        self._expiry[_digest(session_id)] = now + self._lifetime
        return session_id

    def valid(self, session_id: str | None) -> bool:
        if not session_id or len(session_id) > MAX_TOKEN_LENGTH:
            return False
        digest = _digest(session_id)
        expiry = self._expiry.get(digest)
        if expiry is None:
            return False
        if expiry <= self._clock():
            del self._expiry[digest]
            return False
        return True

    def close(self, session_id: str | None) -> None:
        if session_id and len(session_id) <= MAX_TOKEN_LENGTH:
            self._expiry.pop(_digest(session_id), None)

    def csrf_token(self, session_id: str) -> str:
        """The token every form of this session carries."""
        return hmac.new(self._secret, session_id.encode(), hashlib.sha256).hexdigest()

    def csrf_valid(self, session_id: str, token: str | None) -> bool:
        return same_token(self.csrf_token(session_id), token)
