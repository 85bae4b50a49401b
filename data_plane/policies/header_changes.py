"""The route's `request_headers` and `response_headers` changes: set, add, remove.

`set` replaces every field of that name, `add` appends one more, `remove` drops every
field of that name. Host, the framing and connection fields and the fields the gateway
writes itself (`GATEWAY_FIELDS`) are out of their reach: the admin API refuses them,
and a snapshot that carries them anyway (a crafted cache, an older control plane) has
them ignored here, when the route is compiled, so they never reach the framing of a
request or a response.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fleetgate_pb import config_pb2 as pb

from data_plane.config.syntax import GATEWAY_FIELDS
from data_plane.http.request import Headers

_GATEWAY_FIELDS = frozenset(name.encode() for name in GATEWAY_FIELDS)

if TYPE_CHECKING:
    from .chain import Call


class FieldEdit:
    """One compiled HeaderChanges: names lower-cased, values encoded, once."""

    __slots__ = ("appended", "dropped")

    def __init__(self, changes: pb.HeaderChanges) -> None:
        replaced = sorted(changes.set.items())
        dropped = {name.lower().encode() for name in changes.remove}
        dropped.update(name.lower().encode() for name, _ in replaced)
        self.dropped = frozenset(dropped - _GATEWAY_FIELDS)
        self.appended: tuple[tuple[bytes, bytes], ...] = tuple(
            (name.encode(), value.encode())
            for name, value in (*replaced, *sorted(changes.add.items()))
            if name.lower().encode() not in _GATEWAY_FIELDS
        )

    def apply(self, fields: Headers) -> None:
        if self.dropped:
            dropped = self.dropped
            fields[:] = [(name, value) for name, value in fields if name.lower() not in dropped]
        fields.extend(self.appended)

    def __repr__(self) -> str:
        return f"<FieldEdit drop={sorted(self.dropped)} append={[n for n, _ in self.appended]}>"


class HeaderChanges:
    """The route's field changes on the way up and on the way back."""

    __slots__ = ("request", "response")

    def __init__(self, request: FieldEdit | None, response: FieldEdit | None) -> None:
        self.request = request
        self.response = response

    @classmethod
    def from_route(cls, route: pb.Route) -> HeaderChanges:
        return cls(
            FieldEdit(route.request_headers) if route.HasField("request_headers") else None,
            FieldEdit(route.response_headers) if route.HasField("response_headers") else None,
        )

    def on_request(self, call: Call) -> None:
        if self.request is not None:
            self.request.apply(call.head.headers)
        return None

    def on_response(self, call: Call, status: int, fields: Headers) -> None:
        if self.response is not None:
            self.response.apply(fields)

    def __repr__(self) -> str:
        return f"<HeaderChanges request={self.request!r} response={self.response!r}>"
