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

from typing import TYPE_CHECKING
from urllib.parse import unquote_to_bytes

from fleetgate_pb import config_pb2 as pb

from data_plane.http.errors import Forbidden, Unauthorized
from data_plane.http.request import Headers

from .consumers import Consumer, ConsumerDirectory

if TYPE_CHECKING:
    from .chain import Call, Decision

REALM = b'realm="fleetgate"'


class Auth:
    """One route's auth policy, compiled: field names as bytes, challenges pre-built."""

    __slots__ = ("anonymous", "api_key_field", "api_key_query", "challenges", "directory", "roles")

    def __init__(self, policy: pb.AuthPolicy, directory: ConsumerDirectory) -> None:
        self.directory = directory
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
        self.challenges = tuple(challenges)

    def on_request(self, call: Call) -> Decision:
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

    def __repr__(self) -> str:
        methods = "api_key" if self.api_key_field is not None else ""
        return f"<Auth {methods} roles={sorted(self.roles)} anonymous={self.anonymous}>"
