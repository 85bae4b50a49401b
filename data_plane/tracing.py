"""W3C trace context through the gateway, and its spans exported with OpenTelemetry.

Every request gets a span of the gateway's, always: an incoming `traceparent` is
continued (its trace id kept, the gateway's span id sent upstream as the parent, the
sampled flag and `tracestate` passed on), and a request without a valid one starts a
trace. That costs two random numbers and a formatted line; nothing is recorded.

When `OTEL_EXPORTER_OTLP_ENDPOINT` is set, each worker runs the OpenTelemetry SDK too:
the span is started with the SDK (its sampler chosen by the standard `OTEL_TRACES_SAMPLER`
and `OTEL_TRACES_SAMPLER_ARG`, parent-based by default), ended with the HTTP
semantic-convention attributes when the exchange ends, and exported over OTLP/HTTP by a
BatchSpanProcessor: in batches, from the SDK's own thread, never on the request's way.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from data_plane.extensions import load
from data_plane.routing.hosts import split_host
from data_plane.trace_context import MAX_TRACESTATE, parse_traceparent

if TYPE_CHECKING:
    from data_plane.balancing import Upstream
    from data_plane.http.exchange import Exchange

if TYPE_CHECKING:
    from data_plane.trace_context import start as _start
else:  # the per-request part, compiled (trace_context_c) unless FLEETGATE_NO_EXTENSIONS=1
    _start = load("data_plane.trace_context").start
__all__ = ["MAX_TRACESTATE", "ExportedTracing", "Tracing", "parse_traceparent"]


class Tracing:
    """Trace context only: the gateway's span is in the ids it sends, never recorded."""

    exporting = False

    # Set the exchange's `traceparent` and `tracestate` for its upstream: called as
    # `tracing.start(exchange)`, straight into the (compiled) function.
    start = staticmethod(_start)

    def end(self, exchange: Exchange, target: Upstream | None, status: int) -> None:
        """Record the exchange's span (only when exporting)."""

    def shutdown(self) -> None:
        """Send what is still held (only when exporting)."""


class ExportedTracing(Tracing):
    """Trace context plus spans recorded and exported by the OpenTelemetry SDK."""

    exporting = True

    def __init__(self) -> None:
        # Imported here: a node that exports nothing never loads the SDK.
        from opentelemetry import trace
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, TraceFlags
        from opentelemetry.trace.span import TraceState
        from opentelemetry.trace.status import Status, StatusCode

        # Resource.create reads OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES (a name
        # given here would win over them); the provider reads the sampler variables.
        named = os.environ.get("OTEL_SERVICE_NAME") or "service.name=" in os.environ.get(
            "OTEL_RESOURCE_ATTRIBUTES", ""
        )
        resource = Resource.create(None if named else {"service.name": "fleetgate"})
        self.provider = TracerProvider(resource=resource)
        self.provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        self.tracer = self.provider.get_tracer("fleetgate")
        self._trace = trace
        self._remote = (NonRecordingSpan, SpanContext, TraceFlags, TraceState)
        self._server = SpanKind.SERVER
        self._error = Status(StatusCode.ERROR)

    def start(self, exchange: Exchange) -> None:
        head = exchange.head
        parent = parse_traceparent(head.traceparent)
        context = None
        if parent is not None:
            non_recording, span_context, trace_flags, trace_state = self._remote
            tracestate = head.tracestate
            state = None
            if tracestate and len(tracestate) <= MAX_TRACESTATE:
                state = trace_state.from_header([tracestate.decode("latin-1")])
            remote = span_context(
                int(parent[0], 16),
                int(parent[1], 16),
                is_remote=True,
                trace_flags=trace_flags(parent[2]),
                trace_state=state,
            )
            context = self._trace.set_span_in_context(non_recording(remote))
        method = head.method.decode("latin-1")
        span = self.tracer.start_span(method, context=context, kind=self._server)
        exchange.span = span
        ids = span.get_span_context()
        exchange.traceparent = b"00-%032x-%016x-%02x" % (ids.trace_id, ids.span_id, ids.trace_flags)
        header = ids.trace_state.to_header() if ids.trace_state else ""
        exchange.tracestate = header.encode("latin-1") if header else None

    def end(self, exchange: Exchange, target: Upstream | None, status: int) -> None:
        span: Any = exchange.span
        if span is None:
            return
        exchange.span = None
        if not span.is_recording():
            span.end()
            return
        head = exchange.head
        plan = exchange.plan
        path = head.target.partition(b"?")[0]
        attributes: dict[str, Any] = {
            "http.request.method": head.method.decode("latin-1"),
            "url.path": path.decode("latin-1"),
            "url.scheme": "http",
            "client.address": exchange.conn.client,
            "http.response.status_code": status,
            "fleetgate.request_id": exchange.request_id.decode("ascii"),
        }
        # The semantic conventions' server.address is a name or an IP address: no port
        # (that is server.port), and no brackets around an IPv6 literal.
        name, port = split_host(head.host.decode("latin-1"))
        attributes["server.address"] = name[1:-1] if name.startswith("[") else name
        if port:
            attributes["server.port"] = int(port)
        if plan is not None:
            attributes["http.route"] = plan.name
            attributes["fleetgate.service"] = plan.service.name
            span.update_name(f"{attributes['http.request.method']} {plan.name}")
        if target is not None:
            attributes["network.peer.address"] = target.host  # without brackets
            attributes["network.peer.port"] = target.port
        error = exchange.error
        if error is not None:
            attributes["error.type"] = error.code
        elif status >= 500:
            attributes["error.type"] = str(status)
        span.set_attributes(attributes)
        if status >= 500:
            span.set_status(self._error)
        span.end()

    def shutdown(self) -> None:
        self.provider.shutdown()


def tracing_from_environment() -> Tracing:
    """Exporting tracing when OTEL_EXPORTER_OTLP_ENDPOINT (or its traces twin) is set and
    the SDK is not disabled; trace context alone otherwise."""
    endpoint = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    disabled = os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"
    if not endpoint or disabled:
        return Tracing()
    return ExportedTracing()
