"""Errors the proxy answers itself: each carries the status and code of its response.

One flat family, like httpcore's: the protocol code raises or passes these values, and
`responses.error_response` is the one place that turns them into bytes on the wire.
`closes` marks errors after which the connection cannot be trusted to stay in sync
(framing the parser could not follow), so the answer ends with closing it.

`message` is what the client reads; `detail`, when given, is what the access log
records instead: the upstream's address and the cause, which the client never sees.
"""

from __future__ import annotations


class ProxyError(Exception):
    """An answer the gateway makes itself, with the JSON error body."""

    status = 500
    code = "internal_error"
    closes = False

    def __init__(
        self,
        message: str,
        *,
        headers: tuple[tuple[bytes, bytes], ...] = (),
        detail: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers  # extra response headers, e.g. Allow on a 405
        self.detail = detail  # for the log only: addresses and causes

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.status} {self.code}: {self.message}>"


class BadRequest(ProxyError):
    """Ambiguous or malformed framing: answered, then the connection is closed."""

    status = 400
    code = "bad_request"
    closes = True


class Unauthorized(ProxyError):
    """No credential, or one that is malformed, unknown, expired or badly signed.

    Carries `WWW-Authenticate` naming the schemes the route takes (RFC 9110 11.6.1).
    """

    status = 401
    code = "unauthorized"


class Forbidden(ProxyError):
    """Who is calling is known, and may not: none of the route's roles, or the IP filter."""

    status = 403
    code = "forbidden"


class RouteNotFound(ProxyError):
    status = 404
    code = "route_not_found"


class NoRouteForMethod(ProxyError):
    """Routes fit the host and path, but none admits the method; carries `Allow`."""

    status = 405
    code = "method_not_allowed"


class RequestTimeout(ProxyError):
    status = 408
    code = "request_timeout"
    closes = True


class PayloadTooLarge(ProxyError):
    status = 413
    code = "payload_too_large"
    closes = True


class ExpectationFailed(ProxyError):
    status = 417
    code = "expectation_failed"
    closes = True


class HeadersTooLarge(ProxyError):
    status = 431
    code = "request_header_fields_too_large"
    closes = True


class TooManyRequests(ProxyError):
    """A rate limit, quota or concurrency cap refused the request; carries Retry-After."""

    status = 429
    code = "rate_limited"


class QuotaExceeded(TooManyRequests):
    code = "quota_exceeded"


class TooManyConcurrentRequests(TooManyRequests):
    code = "too_many_concurrent_requests"


class BadGateway(ProxyError):
    """The upstream could not be reached or gave an unusable reply."""

    status = 502
    code = "bad_gateway"


class UpstreamConnectFailed(BadGateway):
    code = "upstream_connect_failed"


class UpstreamTlsFailed(BadGateway):
    """The TLS handshake with the upstream failed (its certificate, name, or protocol)."""

    code = "upstream_tls"


class UpstreamReset(BadGateway):
    code = "upstream_reset"


class BadUpstreamResponse(BadGateway):
    code = "bad_upstream_response"


class ServiceUnavailable(ProxyError):
    """No healthy target, or the service is at its concurrency cap."""

    status = 503
    code = "service_unavailable"


class NoHealthyTarget(ServiceUnavailable):
    """Every target of the service is down, drained (weight 0) or held off by its breaker."""

    code = "no_healthy_target"


class CircuitOpen(ServiceUnavailable):
    """The breakers of every target the service could use are open."""

    code = "circuit_open"


class ServiceOverloaded(ServiceUnavailable):
    """The service's requests in flight on this node are at its max_concurrent_requests."""

    code = "service_overloaded"


class Overloaded(ServiceUnavailable):
    """Shed by priority: the service is busy and this request's tier yields to higher ones."""

    code = "overloaded"


class RateLimitUnavailable(ServiceUnavailable):
    """The rate-limit backend cannot decide and the policy fails closed."""

    code = "rate_limit_unavailable"


class GatewayTimeout(ProxyError):
    status = 504
    code = "gateway_timeout"


class VersionNotSupported(ProxyError):
    status = 505
    code = "http_version_not_supported"
    closes = True
