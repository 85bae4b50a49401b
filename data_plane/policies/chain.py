"""The policy chain of a route: what runs between routing and the upstream, and back.

A route's policies are built when the snapshot is compiled, options checked then. A
route without policies gets no chain at all (`None`), so the protocol code pays one
attribute test for it. A route with a chain gets one `Call` per request: the request
as the policies see it, and what they decide about it.

The contract between the exchange and the policies:

- `on_request(call)` runs once per request, in chain order, after routing and before
  the upstream request line is built. It answers at once: None to go on, a ProxyError
  to refuse the request (the gateway's JSON error answer), or a `Reply` to answer it
  at the edge without an upstream call (a CORS preflight). A policy that must wait
  (Redis, a JWKS fetch) returns an awaitable of the same instead; only then does the
  exchange wait on a task.
- A policy may edit `call.head.headers` (the end-to-end fields forwarded upstream),
  replace the query string with `call.set_query`, set who is calling (`consumer`,
  `tenant`, `tier`, `roles`), and add fields to every response of this request with
  `call.response_fields`.
- `on_response(call, status, fields)` runs for every response of the route that
  reaches the client, the upstream's and the gateway's own (a 401, a 429, a 502):
  `fields` is the list of fields about to be sent, edited in place.
- `call.end()` runs exactly once when the exchange ends, whatever the outcome; what a
  policy holds for the request (a concurrency slot) it gives back in a release
  registered with `call.on_end`.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from inspect import isawaitable
from typing import TYPE_CHECKING, Protocol

from fleetgate_pb import config_pb2 as pb

from data_plane.extensions import load
from data_plane.http.errors import ProxyError
from data_plane.http.request import Headers, RequestHead

from .clients import ClientAddresses, node_client_addresses
from .consumers import ConsumerDirectory
from .cors import Cors
from .header_changes import HeaderChanges
from .ip_filter import IpFilter
from .reply import Reply
from .tokens import TokenVerifier, key_source
from .transform import Transform

if TYPE_CHECKING:
    from data_plane.limits.policy import LimitsContext

Decision = ProxyError | Reply | None
RequestVerdict = Decision | Awaitable[Decision]
NO_ROLES: frozenset[str] = frozenset()
# The auth policy runs compiled (auth_c) when built; a chain is the same either way.
_auth = load("data_plane.policies.auth")
_consumers = load("data_plane.policies.consumers")  # the twin the auth policy reads


class Call:
    """One request of a route with policies, as its policies see it."""

    __slots__ = (
        "_releases",
        "client",
        "consumer",
        "head",
        "peer",
        "query",
        "query_changed",
        "response_fields",
        "roles",
        "tenant",
        "tier",
    )

    def __init__(self, head: RequestHead, peer: str, query: bytes) -> None:
        self.head = head
        self.peer = peer  # the socket's peer address
        # The client address policies key on: the peer, unless it is a trusted proxy.
        self.client = peer
        self.query = query  # the query string as received, without "?"; b"": none
        self.query_changed = False
        # Who is calling, once a policy has established it
        self.consumer: str | None = None
        self.tenant: str | None = None
        self.tier: str | None = None
        self.roles: frozenset[str] = NO_ROLES
        # Fields added to every response of this request
        self.response_fields: Headers = []
        self._releases: list[Callable[[], object]] | None = None

    def set_query(self, query: bytes) -> None:
        """Forward `query` (without "?"; b"" for none) instead of the one received."""
        self.query = query
        self.query_changed = True

    def on_end(self, release: Callable[[], object]) -> None:
        """Run `release` once when the exchange ends, whatever the outcome."""
        if self._releases is None:
            self._releases = []
        self._releases.append(release)

    def end(self) -> None:
        """The exchange is over: run the registered releases, each once."""
        releases, self._releases = self._releases, None
        if releases:
            for release in releases:
                release()

    def __repr__(self) -> str:
        return (
            f"<Call {self.head.method.decode()} client={self.client}"
            f" consumer={self.consumer} tenant={self.tenant}>"
        )


class Policy(Protocol):
    """One step of a route's chain.

    A policy whose `on_response` does nothing says so with a class attribute
    `edits_responses = False`, and the chain leaves it out of its responses.
    """

    def on_request(self, call: Call) -> RequestVerdict:
        """Look at (and maybe change) the request; None lets it through."""

    def on_response(self, call: Call, status: int, fields: Headers) -> None:
        """Change the fields of a response of this route, in place, before they are sent."""


class PolicyChain:
    """A route's policies, in order; `clients`: the node's trusted proxies, if any.

    `on_request` and `on_response` are closures made here, once per chain, for its
    shape: a one- or two-step chain calls its steps directly, and `on_response` calls
    only the policies that edit responses (a policy says it does not with
    `edits_responses = False`), so a request pays for what its route has and no loop.
    """

    __slots__ = ("clients", "on_request", "on_response", "policies")

    def __init__(self, policies: tuple[Policy, ...], clients: ClientAddresses | None = None):
        self.policies = policies
        self.clients = clients
        self.on_request: Callable[[Call], RequestVerdict] = _request_steps(self, policies, clients)
        self.on_response: Callable[[Call, int, Headers], None] = _response_steps(policies)

    async def _finish_request(
        self, pending: Awaitable[Decision], start: int, call: Call
    ) -> Decision:
        verdict = await pending
        if verdict is not None:
            return verdict
        for policy in self.policies[start:]:
            step = policy.on_request(call)
            if isawaitable(step):
                step = await step
            if step is not None:
                return step
        return None

    def __repr__(self) -> str:
        return f"<PolicyChain {[type(p).__name__ for p in self.policies]}>"


def _request_steps(
    chain: PolicyChain, policies: tuple[Policy, ...], clients: ClientAddresses | None
) -> Callable[[Call], RequestVerdict]:
    """`on_request` of a chain: each policy in order until one answers or must wait.

    The last step's verdict is the chain's as it is, awaitable or not: nothing runs after
    it."""
    steps = tuple(policy.on_request for policy in policies)
    finish = chain._finish_request
    if clients is not None:
        resolve = clients.client
        run_steps = _request_steps(chain, policies, None)

        def resolved(call: Call) -> RequestVerdict:
            call.client = resolve(call.peer, call.head.forwarded_for)
            return run_steps(call)

        return resolved
    if not steps:
        return _nothing_to_decide
    if len(steps) == 1:
        return steps[0]
    if len(steps) == 2:
        first, last = steps

        def two(call: Call) -> RequestVerdict:
            verdict = first(call)
            if verdict is None:
                return last(call)
            if isawaitable(verdict):
                return finish(verdict, 1, call)
            return verdict

        return two

    def each(call: Call) -> RequestVerdict:
        for i, step in enumerate(steps):
            verdict = step(call)
            if verdict is None:
                continue
            if isawaitable(verdict):
                return finish(verdict, i + 1, call)
            return verdict
        return None

    return each


def _nothing_to_decide(call: Call) -> None:
    return None


def _response_steps(policies: tuple[Policy, ...]) -> Callable[[Call, int, Headers], None]:
    """`on_response` of a chain: the policies that edit responses, then the fields the
    request's policies added."""
    editors = tuple(
        policy.on_response for policy in policies if getattr(policy, "edits_responses", True)
    )
    if not editors:

        def added_fields(call: Call, status: int, fields: Headers) -> None:
            if call.response_fields:
                fields.extend(call.response_fields)

        return added_fields

    def edited(call: Call, status: int, fields: Headers) -> None:
        for edit in editors:
            edit(call, status, fields)
        if call.response_fields:
            fields.extend(call.response_fields)

    return edited


def build_chain(
    route: pb.Route,
    consumers: ConsumerDirectory | None = None,
    *,
    limits: LimitsContext | None = None,
) -> PolicyChain | None:
    """The chain of `route`, or None when it has no policy; `consumers`: the snapshot's
    (`data_plane.policies.ConsumerDirectory`, the loaded twin), by default none.

    `limits`: what the route's rate limits share with the rest of the worker (its
    backends, the snapshot's tiers); a route with `rate_limit` needs it.
    """
    policies: list[Policy] = []
    if route.HasField("cors"):
        policies.append(Cors(route.cors, list(route.methods)))
    if route.ip_allow or route.ip_deny:
        policies.append(IpFilter.from_route(route))
    if route.HasField("auth"):
        tokens = None
        if route.auth.HasField("jwt"):
            jwt = route.auth.jwt
            tokens = TokenVerifier(jwt, key_source(jwt), time.time)
        directory = _consumers.NO_CONSUMERS if consumers is None else consumers
        policies.append(_auth.Auth(route.auth, directory, tokens))
    if route.HasField("rate_limit"):
        if limits is None:
            raise ValueError(f"route {route.name}: a rate limit needs the node's limiters")
        # Imported here, not with the module: the compiled rate limit (local_limit_c)
        # cimports this module's Call, so the two cannot import each other at load.
        from data_plane.limits.policy import RateLimitPolicy

        policies.append(RateLimitPolicy(route.name, route.rate_limit, limits))
    if route.HasField("transform"):
        policies.append(Transform(route.transform))
    if route.HasField("request_headers") or route.HasField("response_headers"):
        policies.append(HeaderChanges.from_route(route))
    return PolicyChain(tuple(policies), node_client_addresses()) if policies else None
