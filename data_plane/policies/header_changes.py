"""The route's `request_headers` and `response_headers` changes: set, add, remove.

`set` replaces every field of that name, `add` appends one more, `remove` drops every
field of that name. Host, the framing fields and the forwarding fields are the
gateway's own and are not reached by these changes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fleetgate_pb import config_pb2 as pb

from data_plane.http.request import Headers

if TYPE_CHECKING:
    from .chain import Call


class FieldEdit:
    """One compiled HeaderChanges: names lower-cased, values encoded, once."""

    __slots__ = ("appended", "dropped")

    def __init__(self, changes: pb.HeaderChanges) -> None:
        replaced = sorted(changes.set.items())
        self.dropped = frozenset(name.lower().encode() for name in changes.remove) | frozenset(
            name.lower().encode() for name, _ in replaced
        )
        self.appended: tuple[tuple[bytes, bytes], ...] = tuple(
            (name.encode(), value.encode())
            for name, value in (*replaced, *sorted(changes.add.items()))
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
