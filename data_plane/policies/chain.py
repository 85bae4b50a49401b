"""The policy chain of a route: what runs between routing and the upstream, and back.

A route's policies are built when the snapshot is compiled, options checked then. A
route without policies gets no chain at all (`None`), so the protocol code pays one
attribute test for it. A policy's request hook answers at once: None to go on, a
ProxyError to refuse the request; a policy that must wait (Redis, a JWKS fetch)
returns an awaitable instead, and only then does the exchange wait on a task.
"""

from __future__ import annotations

from collections.abc import Awaitable
from inspect import isawaitable
from typing import Protocol

from fleetgate_pb import config_pb2 as pb

from data_plane.http.errors import ProxyError
from data_plane.http.request import Headers, RequestHead

from .header_changes import HeaderChanges

RequestVerdict = ProxyError | Awaitable[ProxyError | None] | None


class Policy(Protocol):
    """One step of a route's chain."""

    def on_request(self, head: RequestHead, client: str) -> RequestVerdict:
        """Look at (and maybe change) the request; None lets it through."""

    def on_response(self, status: int, fields: Headers) -> None:
        """Change the upstream response's fields in place before they are sent."""


class PolicyChain:
    """A route's policies, in order."""

    __slots__ = ("policies",)

    def __init__(self, policies: tuple[Policy, ...]) -> None:
        self.policies = policies

    def on_request(self, head: RequestHead, client: str) -> RequestVerdict:
        for i, policy in enumerate(self.policies):
            verdict = policy.on_request(head, client)
            if verdict is None:
                continue
            if isawaitable(verdict):
                return self._finish_request(verdict, i + 1, head, client)
            return verdict
        return None

    async def _finish_request(
        self, pending: Awaitable[ProxyError | None], start: int, head: RequestHead, client: str
    ) -> ProxyError | None:
        verdict = await pending
        if verdict is not None:
            return verdict
        for policy in self.policies[start:]:
            step = policy.on_request(head, client)
            if isawaitable(step):
                step = await step
            if step is not None:
                return step
        return None

    def on_response(self, status: int, fields: Headers) -> None:
        for policy in self.policies:
            policy.on_response(status, fields)

    def __repr__(self) -> str:
        return f"<PolicyChain {[type(p).__name__ for p in self.policies]}>"


def build_chain(route: pb.Route) -> PolicyChain | None:
    """The chain of `route`, or None when it has no policy."""
    policies: list[Policy] = []
    if route.HasField("request_headers") or route.HasField("response_headers"):
        policies.append(HeaderChanges.from_route(route))
    return PolicyChain(tuple(policies)) if policies else None
