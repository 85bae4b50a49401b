"""The route's `transform` policy: query parameters removed and added on the way up.

`remove_query` drops every parameter of those names (as received or percent-encoded);
`add_query` then appends each name=value, percent-encoded, replacing any the client sent
of that name, so the upstream sees the route's value only. The rest of the query goes up
byte for byte, in its order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote, unquote_to_bytes

from fleetgate_pb import config_pb2 as pb

from data_plane.http.request import Headers

if TYPE_CHECKING:
    from .chain import Call, Decision


class Transform:
    """One route's query changes, compiled."""

    edits_responses = False  # the chain need not show it the response

    __slots__ = ("added", "dropped")

    def __init__(self, transform: pb.TransformPolicy) -> None:
        added = sorted(transform.add_query.items())
        self.dropped = frozenset(name.encode() for name in transform.remove_query) | frozenset(
            name.encode() for name, _ in added
        )
        self.added = b"&".join(
            quote(name, safe="").encode() + b"=" + quote(value, safe="").encode()
            for name, value in added
        )

    def on_request(self, call: Call) -> Decision:
        query = call.query
        kept = []
        if query:
            for item in query.split(b"&"):
                name = item.partition(b"=")[0]
                if name in self.dropped or (
                    b"%" in name and unquote_to_bytes(name) in self.dropped
                ):
                    continue
                kept.append(item)
        if self.added:
            kept.append(self.added)
        changed = b"&".join(kept)
        if changed != query:
            call.set_query(changed)
        return None

    def on_response(self, call: Call, status: int, fields: Headers) -> None:
        pass

    def __repr__(self) -> str:
        return f"<Transform drop={sorted(self.dropped)} add={self.added!r}>"
