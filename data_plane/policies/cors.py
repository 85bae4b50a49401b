"""The route's `cors` policy: preflights answered at the edge, CORS fields on responses.

A preflight (OPTIONS with `Origin` and `Access-Control-Request-Method`) is answered 204
by the gateway, never sent upstream: with the allow fields when the origin and method
are allowed, without them otherwise (the browser then refuses the real request). An
actual request from an allowed origin gets `Access-Control-Allow-Origin` (and
credentials, exposed fields) on every response, the gateway's own included; one from
another origin gets no CORS field. Every response of the route carries `Vary: Origin`,
so a cache never serves one origin's answer to another. The upstream's own
Access-Control-* fields are replaced: the route's policy is the one answer.

`allow_credentials` with the origin `*` is refused by the config checks (the Fetch
standard forbids the pair); `allow_headers` left empty allows what the preflight asks.
A route whose `methods` leave OPTIONS out still gets its preflights (the route table
admits OPTIONS for it), and a plain OPTIONS request there is 405 as before.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fleetgate_pb import config_pb2 as pb

from data_plane.http.errors import NoRouteForMethod
from data_plane.http.request import Headers

from .reply import Reply

if TYPE_CHECKING:
    from .chain import Call, Decision

_ORIGIN = b"origin"
_REQUEST_METHOD = b"access-control-request-method"
_REQUEST_HEADERS = b"access-control-request-headers"
_VARY = (b"Vary", b"Origin")
_PREFLIGHT_VARY = (
    b"Vary",
    b"Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
)
_ALLOW_ORIGIN = b"Access-Control-Allow-Origin"
_PREFLIGHT = Reply(204, [])


class Cors:
    """One route's CORS policy, compiled: every field value built once."""

    __slots__ = (
        "allow_headers",
        "any_origin",
        "credentials",
        "exposed",
        "max_age",
        "methods",
        "methods_value",
        "options_allowed",
        "origins",
        "route_methods",
    )

    def __init__(self, cors: pb.CorsPolicy, route_methods: list[str]) -> None:
        self.any_origin = "*" in cors.allow_origins
        self.origins = frozenset(origin.encode() for origin in cors.allow_origins)
        self.methods = frozenset(method.upper().encode() for method in cors.allow_methods)
        self.methods_value = ", ".join(cors.allow_methods).encode()
        self.allow_headers = ", ".join(cors.allow_headers).encode() or None
        self.credentials = cors.allow_credentials
        self.exposed = ", ".join(cors.expose_headers).encode() or None
        self.max_age = b"%d" % cors.max_age
        # A plain OPTIONS request is only routed here because preflights must be.
        self.options_allowed = not route_methods or "OPTIONS" in route_methods
        self.route_methods = ", ".join(route_methods).encode()

    def on_request(self, call: Call) -> Decision:
        origin = method = asked = None
        for name, value in call.head.headers:
            if len(name) == 6 and name.lower() == _ORIGIN:
                origin = value
            elif len(name) == 29 and name.lower() == _REQUEST_METHOD:
                method = value
            elif len(name) == 30 and name.lower() == _REQUEST_HEADERS:
                asked = value
        if call.head.method == b"OPTIONS":
            if origin is not None and method is not None:
                call.response_fields += self._preflight(origin, method, asked)
                return _PREFLIGHT
            if not self.options_allowed:
                return NoRouteForMethod(
                    "the route does not take OPTIONS", headers=((b"Allow", self.route_methods),)
                )
        fields = call.response_fields
        fields.append(_VARY)
        if origin is not None and self._allowed(origin):
            fields.append((_ALLOW_ORIGIN, self._origin_value(origin)))
            if self.credentials:
                fields.append((b"Access-Control-Allow-Credentials", b"true"))
            if self.exposed is not None:
                fields.append((b"Access-Control-Expose-Headers", self.exposed))
        return None

    def on_response(self, call: Call, status: int, fields: Headers) -> None:
        if any(name[:15].lower() == b"access-control-" for name, _ in fields):
            fields[:] = [f for f in fields if f[0][:15].lower() != b"access-control-"]

    def _preflight(self, origin: bytes, method: bytes, asked: bytes | None) -> Headers:
        """The fields of the answer to a preflight (added after `on_response` strips the
        Access-Control-* fields of whoever else answered)."""
        fields: Headers = [_PREFLIGHT_VARY]
        if self._allowed(origin) and method.strip().upper() in self.methods:
            fields += (
                (_ALLOW_ORIGIN, self._origin_value(origin)),
                (b"Access-Control-Allow-Methods", self.methods_value),
                (b"Access-Control-Max-Age", self.max_age),
            )
            headers = self.allow_headers if self.allow_headers is not None else asked
            if headers:
                fields.append((b"Access-Control-Allow-Headers", headers))
            if self.credentials:
                fields.append((b"Access-Control-Allow-Credentials", b"true"))
        return fields

    def _allowed(self, origin: bytes) -> bool:
        return self.any_origin or origin in self.origins

    def _origin_value(self, origin: bytes) -> bytes:
        # `*` only when any origin may call and without credentials; else the origin
        # itself, so the answer never names an origin that did not ask.
        return b"*" if self.any_origin and not self.credentials else origin

    def __repr__(self) -> str:
        return f"<Cors origins={sorted(o.decode() for o in self.origins)}>"
