"""The route's IP allow and deny lists, on the client address (`clients.py`).

A client in a denied network is refused; with an allow list, so is one in none of its
networks; both are 403 `forbidden`. Deny wins over allow. A client address that does
not parse (a unix socket) is in no network: allowed only when there is no allow list.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fleetgate_pb import config_pb2 as pb

from data_plane.config.syntax import Network, parse_networks
from data_plane.http.errors import Forbidden
from data_plane.http.request import Headers

from .clients import parse_address

if TYPE_CHECKING:
    from .chain import Call, Decision

ALLOWED, DENIED, NOT_ALLOWED = range(3)
VERDICTS_KEPT = 4096  # client addresses a filter remembers; forgotten all at once when full


class IpFilter:
    """One route's compiled lists."""

    edits_responses = False  # the chain need not show it the response

    __slots__ = ("_verdicts", "allow", "deny")

    def __init__(self, allow: tuple[Network, ...], deny: tuple[Network, ...]) -> None:
        self.allow = allow
        self.deny = deny
        # Client address -> ALLOWED, DENIED or NOT_ALLOWED; bounded. Parsing an address
        # and testing it against networks costs microseconds; clients come back.
        self._verdicts: dict[str, int] = {}

    @classmethod
    def from_route(cls, route: pb.Route) -> IpFilter:
        # The snapshot checks have parsed these already.
        return cls(
            parse_networks(route.ip_allow, f"routes.{route.name}.ip_allow"),
            parse_networks(route.ip_deny, f"routes.{route.name}.ip_deny"),
        )

    def on_request(self, call: Call) -> Decision:
        client = call.client
        verdict = self._verdicts.get(client)
        if verdict is None:
            verdict = self._verdict(client)
            if len(self._verdicts) >= VERDICTS_KEPT:
                self._verdicts.clear()
            self._verdicts[client] = verdict
        if verdict == ALLOWED:
            return None
        if verdict == DENIED:
            return Forbidden("the client address is denied on this route")
        return Forbidden("the client address is not allowed on this route")

    def _verdict(self, client: str) -> int:
        address = parse_address(client)
        if address is not None and any(address in network for network in self.deny):
            return DENIED
        if self.allow and (address is None or not any(address in n for n in self.allow)):
            return NOT_ALLOWED
        return ALLOWED

    def on_response(self, call: Call, status: int, fields: Headers) -> None:
        pass

    def __repr__(self) -> str:
        return f"<IpFilter allow={len(self.allow)} deny={len(self.deny)}>"
