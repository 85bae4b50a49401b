"""One client connection: its request parser (heads) and the exchanges it starts.

Requests are answered strictly in order. The exchange in flight is `current`;
requests pipelined behind it wait in `waiting` (reading pauses meanwhile, so at most
one read's worth of them is held) and start when it ends. A framing error answers
400 (or the error's own status) once the exchanges before it are answered, then the
connection closes: after bytes the parser could not follow, nothing that comes next
can be trusted.

Each read is fed to the parser in one call and its events taken in a loop: a head
(parsed, checked and normalized in one call of the compiled head path) starts an
exchange; body pieces and the end of the body go to the exchange whose body it is.
What the connection hands its exchanges is narrow: a `RequestHead`, then each body
piece and the end of the body. After a 101 the tunnel takes the transport over
(tunnel.py); this protocol then only hears that it closed.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import cast

try:
    import cython
except ImportError:  # Cython is only needed to build the compiled twin
    from data_plane import uncompiled as cython

from .errors import ProxyError, RequestTimeout
from .flow import HIGH_WATER, LOW_WATER, QUEUED, STOPPED, FlowControl
from .head_path import END
from .responses import error_response

if not cython.compiled:  # compiled, downstream_c.pxd cimports the compiled twins' classes
    from .exchange import ClientSide, Exchange
    from .head_path import RequestHead, RequestParser
    from .state import ProxyState
    from .upstream import UpstreamConnection

log = logging.getLogger("fleetgate.proxy")

# Where the parser is, for the once-a-second timeout sweep.
IDLE, HEAD, BODY = range(3)

# A connection closed while the client may still be sending (a request answered before
# its body was in, a 413, a 400) is half-closed and drained for this long before it is
# cut: closing at once would reset it and could destroy the answer in the client's
# receive queue. nginx's `lingering_timeout` is the precedent.
LINGER_SECONDS = 5.0


class DownstreamConnection(ClientSide):
    """An asyncio protocol (by its methods: a compiled class has no Python base)."""

    __slots__ = (
        "current",
        "eof",
        "failure",
        "lingering_until",
        "parser",
        "parsing",
        "paused_upstream",
        "phase",
        "served",
        "since",
        "upgrading",
        "waiting",
    )

    def __init__(self, state: ProxyState, *, https: bool = False) -> None:
        self.state = state
        self.https = https  # came in through the HTTPS listener
        limits = state.limits
        self.parser = RequestParser(limits.max_header_bytes, limits.max_header_count)
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.flow: FlowControl = None  # type: ignore[assignment]
        self.client = ""
        self.client_bytes = b""
        # Per-connection state
        self.closed = False
        self.eof = False  # the client will send nothing more
        self.writing_paused = False  # the client reads slower than we write
        self.feeding = False  # taking the events of a read
        self.phase = IDLE
        self.since = state.now
        self.served = 0
        self.current: Exchange | None = None  # the exchange being answered
        self.parsing: Exchange | None = None  # the exchange whose body is being read
        self.waiting: deque[Exchange] | None = None
        self.failure: ProxyError | None = None  # to answer once `current` is done
        self.upgrading: Exchange | None = None  # an Upgrade request awaiting its 101
        self.paused_upstream: UpstreamConnection | None = None
        self.lingering_until = 0.0  # closed but draining the client until then

    # ------------------------------------------------------------ asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, only alike.
        self.transport = transport = cast(asyncio.Transport, transport)
        self.flow = FlowControl(transport)
        state = self.state
        metrics = state.metrics
        metrics.accepted += 1
        if len(state.connections) >= state.limits.max_connections or state.draining:
            self.closed = True
            transport.abort()
            return
        state.connections.add(self)
        metrics.open_connections += 1
        transport.set_write_buffer_limits(HIGH_WATER, LOW_WATER)
        peer = transport.get_extra_info("peername")
        self.client = peer[0] if isinstance(peer, tuple) else "unix"
        self.client_bytes = self.client.encode("ascii", "replace")

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        state = self.state
        if self in state.connections:
            state.connections.discard(self)
            state.metrics.open_connections -= 1
        for exchange in (self.current, self.parsing, *(self.waiting or ())):
            if exchange is not None:
                exchange.abandon()
        self.current = self.parsing = self.upgrading = None
        self.waiting = None

    def data_received(self, data: bytes) -> None:
        if self.closed or self.failure is not None:
            return
        if self.upgrading is not None:
            self.upgrading.client_tunnel_data(data)
            return
        parser = self.parser
        parser.feed(data)
        self.feeding = True
        try:
            while not self.closed:
                event = parser.next_event()
                if event is None:
                    break
                if event.__class__ is bytes:
                    exchange = self.parsing
                    if exchange is not None:
                        exchange.on_request_body(event)
                elif event is END:
                    self._request_complete()
                else:
                    self._head_parsed(event)  # type: ignore[arg-type]
        except ProxyError as error:
            self.feeding = False
            current = self.current
            if current is not None and current is not self.parsing and current.outbox:
                current.flush()  # a whole request before the broken one goes on
            self._parse_failed(error)
            return
        except Exception as exc:  # a fault of the gateway's: answer 500, keep the worker
            self.feeding = False
            log.error("request handling failed", exc_info=exc)
            self._parse_failed(ProxyError("the gateway failed to handle the request"))
            return
        self.feeding = False
        if self.closed:
            return  # answered already: the rest is drained unread
        if parser.switched:
            self._upgrade_parsed(parser.take_rest())
            return
        current = self.current
        if current is not None and current.outbox:
            current.flush()
        if self.phase != HEAD and parser.reading_head:
            self.phase = HEAD
            self.since = self.state.now

    def eof_received(self) -> bool:
        self.eof = True
        # A client may half-close after its request: keep the connection to answer it.
        return self.current is not None

    def pause_writing(self) -> None:
        # The client reads slower than the upstream sends: stop reading the upstream.
        self.writing_paused = True
        upstream = None if self.current is None else self.current.upstream
        if upstream is not None:
            self.hold_upstream(upstream)

    def resume_writing(self) -> None:
        self.writing_paused = False
        upstream = self.paused_upstream
        if upstream is not None:
            self.paused_upstream = None
            upstream.resume_reading()
            owner = upstream.owner
            if owner is not None:
                owner.client_resumed(self.state.now)

    def hold_upstream(self, upstream: UpstreamConnection) -> None:
        """Stop reading `upstream` until this client has taken what is buffered for it."""
        upstream.pause_reading()
        self.paused_upstream = upstream

    # ------------------------------------------------------------ parser events

    def _head_parsed(self, head: RequestHead) -> None:
        self.phase = BODY
        self.served += 1
        exchange = Exchange(self, head)
        self.parsing = exchange
        if head.upgrade is not None:
            self.upgrading = exchange  # what follows its head belongs to the tunnel
        if self.current is None:
            self.current = exchange
            exchange.start()
        else:
            if self.waiting is None:
                self.waiting = deque()
            self.waiting.append(exchange)
            self.flow.pause(QUEUED)
        if not head.has_body and not self.closed:
            # The request is whole with its head (the exchange knows: `request_done`).
            self.parsing = None
            if self.current is None:
                self.phase = IDLE
                self.since = self.state.now

    def _request_complete(self) -> None:
        exchange = self.parsing
        self.parsing = None
        if self.current is None:
            self.phase = IDLE
            self.since = self.state.now
        if exchange is not None and not exchange.request_done:
            exchange.on_request_complete()

    # ------------------------------------------------------------ for exchanges

    def exchange_finished(self, exchange: Exchange) -> None:
        """`exchange` has answered: close, or start the next one."""
        if exchange is not self.current:
            return
        self.current = None
        if self.paused_upstream is not None:
            self.paused_upstream = None
        if not exchange.keep_alive or self.closed or self.eof:
            self.close()
            return
        waiting = self.waiting
        if waiting:
            following = waiting.popleft()
            if not waiting:
                self.flow.resume(QUEUED)
            self.current = following
            following.start()
        elif self.failure is not None:
            self._answer_failure(self.failure)
        elif self.parsing is None and self.phase != HEAD:
            self.phase = IDLE
            self.since = self.state.now

    def fail_request(self, exchange: Exchange, error: ProxyError) -> None:
        """The request broke mid-body: answer if nothing was answered yet, else cut."""
        if exchange is self.current and not exchange.response_started:
            exchange.answer(error)
        else:
            exchange.abandon()
            self.cut()
        self.closed = True

    def cut(self) -> None:
        """End the connection with a reset: the response was cut short."""
        self.closed = True
        self.transport.abort()

    def close(self) -> None:
        """Close after what is written; linger when the client may still be sending."""
        self.closed = True
        transport = self.transport
        if (
            self.eof
            or self.phase == IDLE
            or transport.is_closing()
            or not transport.can_write_eof()
        ):
            # TLS has no half-close: closing sends close_notify after what is written.
            transport.close()
            return
        # Half-close once the answer is flushed, then read and drop what still comes,
        # until the client closes too or the linger time is up.
        self.lingering_until = self.state.now + LINGER_SECONDS
        transport.write_eof()
        self.flow.clear()

    def check_timeouts(self, now: float) -> None:
        """Called once a second: a head sent too slowly, or idle for too long."""
        if self.closed:
            if self.lingering_until and now > self.lingering_until:
                self.transport.abort()
            return
        limits = self.state.limits
        if self.phase == HEAD:
            if self.current is None and now - self.since > limits.header_timeout:
                self._parse_failed(RequestTimeout("the request head did not arrive in time"))
        elif self.phase == IDLE and self.current is None:
            limit = limits.idle_timeout if self.served else limits.header_timeout
            if now - self.since > limit or self.state.draining:
                self.close()

    # ------------------------------------------------------------ failures and upgrades

    def _parse_failed(self, error: ProxyError) -> None:
        self.flow.pause(STOPPED)
        exchange = self.parsing
        self.parsing = None
        if exchange is not None:
            if exchange is self.current:
                self.fail_request(exchange, error)
                return
            if self.waiting and exchange in self.waiting:
                self.waiting.remove(exchange)
            exchange.abandon()
        if self.current is None and not self.waiting:
            self._answer_failure(error)
        else:
            self.failure = error

    def _answer_failure(self, error: ProxyError) -> None:
        state = self.state
        state.metrics.unrouted.statuses[error.status // 100] += 1
        request_id = state.next_request_id()
        if state.access_log is not None:
            version = 0 if state.config is None else state.config.version
            state.access_log.refusal(request_id, self.client_bytes, error, version)
        self.transport.write(error_response(error, request_id, state.date_line, close=True))
        self.close()

    def switched(self) -> None:
        """The exchange hands the transport to a tunnel: no more HTTP on it."""
        self.upgrading = None
        self.paused_upstream = None
        self.flow.clear()

    def _upgrade_parsed(self, rest: bytes) -> None:
        """The parser stopped after an Upgrade request; what follows is another protocol."""
        exchange = self.upgrading
        if exchange is None:
            return
        current = self.current
        if current is not None and current.outbox:
            current.flush()
        if exchange.ended:
            self.upgrading = None
        elif rest:
            exchange.client_tunnel_data(rest)

    def __repr__(self) -> str:
        return (
            f"<DownstreamConnection {self.client} phase={('idle', 'head', 'body')[self.phase]}"
            f" served={self.served} current={self.current!r} closed={self.closed}>"
        )
