"""The route's `auth` policy: who is calling, and whether they may.

A request passes with any one of the route's methods. Every credential it presents
must be good: a malformed, unknown, expired or badly signed one is 401 even when the
route admits anonymous requests, and even beside a good one. With no credential at all,
`anonymous: true` admits the request unlabelled (unless the route asks for roles, which
only a credential can bring); otherwise 401. The 401 carries `WWW-Authenticate` naming
the schemes the route takes.

Once the caller is known, `call.consumer`, `tenant`, `tier` and `roles` say so for the
policies after this one, and the upstream gets `X-Consumer` and `X-Tenant` (the client's
own copies of those fields were dropped when the head was read). A route with `roles`
admits a caller holding any one of them, else 403. API keys are taken out of the
request (header and query) before it is forwarded.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from inspect import isawaitable
from typing import TYPE_CHECKING
from urllib.parse import unquote_to_bytes

from fleetgate_pb import config_pb2 as pb

from data_plane.http.errors import Forbidden, Unauthorized
from data_plane.http.request import Headers

from .tokens import TokenRefused, TokenVerifier, Verified

try:
    import cython
except ImportError:  # Cython is only needed to build the compiled twin
    from data_plane import uncompiled as cython

if not cython.compiled:  # compiled, auth_c.pxd cimports these from the compiled twins
    from .consumers import Consumer, ConsumerDirectory

    if TYPE_CHECKING:
        from .chain import Call

if TYPE_CHECKING:
    from .chain import Decision, RequestVerdict

REALM = b'realm="fleetgate"'
_AUTHORIZATION = b"authorization"
_BEARER = b"bearer "
_BEARER_AS_SENT = b"Bearer "  # RFC 6750's spelling, what clients send


class Auth:
    """One route's auth policy, compiled: field names as bytes, challenges pre-built."""

    # It edits the request only; the chain need not show it the response.
    edits_responses = False

    __slots__ = (
        "anonymous",
        "api_key_field",
        "api_key_query",
        "challenges",
        "directory",
        "on_request",
        "roles",
        "token_challenges",
        "tokens",
    )

    def __init__(
        self,
        policy: pb.AuthPolicy,
        directory: ConsumerDirectory,
        tokens: TokenVerifier | None = None,
    ) -> None:
        self.directory = directory
        self.tokens = tokens if "jwt" in policy.methods else None
        self.anonymous = policy.anonymous
        self.roles = frozenset(policy.roles)
        api_keys = "api_key" in policy.methods
        header = (policy.api_key_header or "x-api-key").lower()
        self.api_key_field: bytes | None = header.encode() if api_keys else None
        query = policy.api_key_query
        self.api_key_query: bytes | None = query.encode() if api_keys and query else None
        challenges: list[tuple[bytes, bytes]] = []
        if api_keys:
            challenges.append((b"WWW-Authenticate", b"ApiKey " + REALM))
        self.token_challenges = tuple(challenges)
        if self.tokens is not None:
            bearer = b"Bearer " + REALM
            challenges.append((b"WWW-Authenticate", bearer))
            # RFC 6750 3.1: a token was sent and is not good.
            self.token_challenges += ((b"WWW-Authenticate", bearer + b', error="invalid_token"'),)
        self.challenges = tuple(challenges)
        self.on_request: Callable[[Call], RequestVerdict] = self._decide
        if self.api_key_field is not None and self.api_key_query is None and self.tokens is None:
            self.on_request = self._decide_by_header_key
        elif self.api_key_field is None and self.tokens is not None:
            self.on_request = self._decide_by_known_token

    def _decide_by_known_token(self, call: Call) -> RequestVerdict:
        """A route whose one credential is a bearer token: a request with one good token
        already verified is decided here by a cache lookup; any other takes the general
        way (a token with blanks around it included: it is stripped there)."""
        tokens = self.tokens
        assert tokens is not None
        headers = call.head.headers
        value = None
        for i in range(len(headers)):
            name = headers[i][0]
            if len(name) == 13 and name.lower() == _AUTHORIZATION:
                if value is not None:
                    return self._decide(call)
                value = headers[i][1]
        if value is None or not (value.startswith(_BEARER_AS_SENT) or value[:7].lower() == _BEARER):
            return self._decide(call)
        # `tokens.known(token)`, inline: the verifier's cache read in C, not a Python call
        token = value[7:]
        cache = tokens.cache
        verified = cache.get(token)
        if verified is None or tokens.clock() >= verified.expires:
            return self._decide(call)
        cache.move_to_end(token)
        return self._admit_token(call, verified)

    def _decide_by_header_key(self, call: Call) -> RequestVerdict:
        """A route whose one credential is an API key in a header: the request carrying
        exactly one is decided here in one pass over its fields; any other takes the
        general way."""
        field = self.api_key_field
        assert field is not None
        size = len(field)
        headers = call.head.headers
        at = -1
        for i in range(len(headers)):
            name = headers[i][0]
            if len(name) == size and name.lower() == field:
                if at >= 0:
                    return self._decide(call)
                at = i
        if at < 0:
            return self._decide(call)
        key = headers.pop(at)[1]
        directory = self.directory
        consumer = directory.known.get(key)
        if consumer is None:
            consumer = directory.by_api_key(key)
            if consumer is None:
                return self._refuse("the API key is not known")
        if self.roles:
            return self._admit(call, consumer, consumer.roles)
        # `_admit` without roles to check, inline: a repeat key's whole decision is
        # a dict lookup and these writes.
        call.roles = consumer.roles
        call.consumer = consumer.name
        call.tenant = consumer.tenant
        call.tier = consumer.tier
        headers.extend(consumer.fields)
        return None

    def _decide(self, call: Call) -> RequestVerdict:
        consumer: Consumer | None = None
        presented = False
        if self.api_key_field is not None:
            key = self._take_api_key(call)
            if key is not None:
                if isinstance(key, Unauthorized):
                    return key
                presented = True
                consumer = self.directory.by_api_key(key)
                if consumer is None:
                    return self._refuse("the API key is not known")
        if self.tokens is not None:
            token = self._bearer_token(call)
            if token is not None:
                if isinstance(token, Unauthorized):
                    return token
                if presented:
                    return self._refuse("the request carries both an API key and a token")
                try:
                    verified = self.tokens.verify(token)
                except TokenRefused as refused:
                    return Unauthorized(str(refused), headers=self.token_challenges)
                if isawaitable(verified):
                    return self._admit_later(call, verified)
                return self._admit_token(call, verified)
        if not presented:
            if self.anonymous and not self.roles:
                return None
            return self._refuse("this route needs a credential")
        assert consumer is not None
        return self._admit(call, consumer, consumer.roles)

    def on_response(self, call: Call, status: int, fields: Headers) -> None:
        pass

    # ------------------------------------------------------------ decisions

    def _admit(self, call: Call, consumer: Consumer | None, roles: frozenset[str]) -> Decision:
        if self.roles and self.roles.isdisjoint(roles):
            return Forbidden("the caller holds none of the roles this route admits")
        call.roles = roles
        if consumer is not None:
            call.consumer = consumer.name
            call.tenant = consumer.tenant
            call.tier = consumer.tier
            call.head.headers.extend(consumer.fields)
        return None

    def _admit_token(self, call: Call, verified: Verified) -> Decision:
        subject = verified.subject
        consumer = None if subject is None else self.directory.by_subject.get(subject)
        if consumer is None:
            return self._admit(call, None, verified.roles)
        roles = consumer.roles | verified.roles if verified.roles else consumer.roles
        return self._admit(call, consumer, roles)

    async def _admit_later(self, call: Call, pending: Awaitable[Verified]) -> Decision:
        try:
            verified = await pending
        except TokenRefused as refused:
            return Unauthorized(str(refused), headers=self.token_challenges)
        return self._admit_token(call, verified)

    def _refuse(self, why: str) -> Unauthorized:
        return Unauthorized(why, headers=self.challenges)

    # ------------------------------------------------------------ API keys

    def _take_api_key(self, call: Call) -> bytes | Unauthorized | None:
        """The one API key of the request, taken out of it; None when it carries none."""
        found: list[bytes] = []
        field = self.api_key_field
        assert field is not None
        headers = call.head.headers
        size = len(field)
        for name, value in headers:
            if len(name) == size and name.lower() == field:
                found.append(value)
        if found:
            headers[:] = [f for f in headers if len(f[0]) != size or f[0].lower() != field]
        query_name = self.api_key_query
        query = call.query
        if query_name is not None and (query_name in query or b"%" in query):
            kept = []
            for item in query.split(b"&"):
                name, _, value = item.partition(b"=")
                if name == query_name or (b"%" in name and unquote_to_bytes(name) == query_name):
                    found.append(unquote_to_bytes(value))
                else:
                    kept.append(item)
            if len(kept) != query.count(b"&") + 1:
                call.set_query(b"&".join(kept))
        if not found:
            return None
        if len(found) > 1:
            return self._refuse("the request carries more than one API key")
        return found[0]

    # ------------------------------------------------------------ bearer tokens

    def _bearer_token(self, call: Call) -> bytes | Unauthorized | None:
        """The request's bearer token; None when it has no Authorization field."""
        found = [v for n, v in call.head.headers if len(n) == 13 and n.lower() == _AUTHORIZATION]
        if not found:
            return None
        if len(found) > 1:
            return self._refuse("the request carries more than one Authorization field")
        value = found[0]
        token = value[7:].strip()
        if value[:7].lower() != _BEARER or not token or b" " in token:
            return Unauthorized(
                "the Authorization field is not a Bearer token", headers=self.token_challenges
            )
        return token

    def __repr__(self) -> str:
        methods = [
            name
            for name, on in (("api_key", self.api_key_field), ("jwt", self.tokens))
            if on is not None
        ]
        return f"<Auth {methods} roles={sorted(self.roles)} anonymous={self.anonymous}>"
