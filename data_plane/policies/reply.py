"""An answer a policy makes at the edge that is not an error (a CORS preflight's 204)."""

from __future__ import annotations

from data_plane.http.request import Headers


class Reply:
    """An answer made at the edge that is not an error: a status and fields, no body."""

    __slots__ = ("fields", "status")

    def __init__(self, status: int, fields: Headers) -> None:
        self.status = status
        self.fields = fields

    def __repr__(self) -> str:
        return f"<Reply {self.status} fields={[n for n, _ in self.fields]}>"
