"""One keep-alive connection to an upstream target, parsing responses with httptools.

The connection serves one owner (an exchange) at a time and reports to it what the
parser sees: a response head, body chunks, and after each read whether the response
is whole; or that the reply is unusable, that the connection closed, that it switched
protocols. It knows nothing of the exchange's state or of the pool beyond giving the
pool's counters its opening and closing (httpcore: a connection knows nothing of the
pool); its fields are its own, changed by its own methods only.

Bytes that arrive while no one owns the connection, or after its response ended,
mean the connection is out of step with the upstream: it is closed, never reused.
1xx informational responses are skipped (the gateway answered any Expect itself); a
101 is reported as a switch, and the tunnel takes the connection over.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, cast

from httptools import HttpParserError, HttpParserUpgrade, HttpResponseParser

from .errors import BadUpstreamResponse, ProxyError
from .flow import HIGH_WATER, LOW_WATER
from .pool import ServicePool
from .request import Headers
from .state import ProxyState

if TYPE_CHECKING:
    from .exchange import Exchange

log = logging.getLogger("fleetgate.proxy")


class _Detached(Exception):
    """Raised from a parser callback to stop parsing for an owner that let go."""


class UpstreamConnection(asyncio.Protocol):
    __slots__ = (
        "done",
        "fields",
        "head_bytes",
        "head_only",
        "idle_since",
        "in_head",
        "informational",
        "out_of_step",
        "owner",
        "parser",
        "pool",
        "read_size",
        "reading_paused",
        "stale_parser",
        "state",
        "target",
        "transport",
    )

    def __init__(self, pool: ServicePool, target: int, state: ProxyState) -> None:
        self.pool = pool
        self.target = target  # the Upstream's index in its service
        self.state = state
        self.parser = HttpResponseParser(self)
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        # Per-response state
        self.owner: Exchange | None = None
        self.head_only = False  # the request was HEAD: the response has no body
        self.fields: Headers = []
        self.in_head = False  # between the status line and the end of the head
        self.head_bytes = 0  # bytes of earlier reads that ended inside the head
        self.read_size = 0  # bytes of the read being parsed
        self.done = False  # the current response has ended
        self.informational = False  # parsing a 1xx response
        self.stale_parser = False  # a HEAD response left the parser expecting a body
        self.out_of_step = False  # bytes came that belong to no response
        self.reading_paused = False
        self.idle_since = 0.0

    # ------------------------------------------------------------ asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, only alike.
        self.transport = transport = cast(asyncio.Transport, transport)
        transport.set_write_buffer_limits(HIGH_WATER, LOW_WATER)
        self.pool.counters.open += 1
        self.pool.targets[self.target].open += 1

    def connection_lost(self, exc: Exception | None) -> None:
        self.pool.counters.open -= 1
        self.pool.targets[self.target].open -= 1
        owner = self.owner
        if owner is None:
            self.pool.forget(self)
        else:
            self.owner = None
            owner.upstream_lost(exc)

    def data_received(self, data: bytes) -> None:
        owner = self.owner
        if owner is None:
            self.discard()
            return
        self.read_size = len(data)
        try:
            self.parser.feed_data(data)
        except HttpParserUpgrade as upgrade:
            if self.owner is owner:
                owner.upstream_switched(self.fields, data[upgrade.args[0] :])
            return
        except HttpParserError as exc:
            if self.owner is not owner:
                return
            if self.done:
                # The response ended and more bytes followed it: serve the response,
                # never reuse the connection.
                self.out_of_step = True
                owner.response_read(True)
                return
            cause = exc.__context__
            if not isinstance(cause, ProxyError):
                if cause is not None and not isinstance(cause, _Detached):
                    log.error("upstream response handling failed", exc_info=cause)
                cause = BadUpstreamResponse(f"unusable upstream reply: {exc}")
            owner.upstream_failed(cause)
            return
        if self.in_head:
            self.head_bytes += len(data)
            limit = self.state.limits.max_header_bytes
            if self.head_bytes > limit and self.owner is owner:
                owner.upstream_failed(
                    BadUpstreamResponse(f"the upstream's response head exceeds {limit} bytes")
                )
                return
        if self.owner is owner:
            owner.response_read(self.done)

    def eof_received(self) -> bool:
        return False  # close; connection_lost tells the owner

    def pause_writing(self) -> None:
        if self.owner is not None:
            self.owner.upstream_congested(True)

    def resume_writing(self) -> None:
        if self.owner is not None:
            self.owner.upstream_congested(False)

    # ------------------------------------------------------------ httptools callbacks

    def on_message_begin(self) -> None:
        if self.owner is None or self.done:
            raise _Detached  # bytes beyond the response: out of step
        self.fields = []
        self.in_head = True
        self.head_bytes = 0

    def on_header(self, name: bytes, value: bytes) -> None:
        self.fields.append((name, value))

    def on_headers_complete(self) -> None:
        owner = self.owner
        if owner is None:
            raise _Detached
        self.in_head = False
        limit = self.state.limits.max_header_bytes
        if self.head_bytes + self.read_size > limit:  # the head may be over: measure it
            size = sum(len(name) + len(value) + 4 for name, value in self.fields)
            if size > limit:
                raise BadUpstreamResponse(f"the upstream's response head exceeds {limit} bytes")
        status = self.parser.get_status_code()
        if 100 <= status < 200:
            # 101 is taken up when the parser stops at the switch; the rest are skipped.
            self.informational = status != 101
            return
        owner.on_response_head(status, self.fields, self.parser.should_keep_alive())
        if self.head_only and self.owner is owner:
            # llhttp cannot be told the request was HEAD: it would wait for the body
            # the Content-Length announces. The response is whole; the parser is not.
            self.done = True
            self.stale_parser = True

    def on_body(self, body: bytes) -> None:
        owner = self.owner
        if owner is None or self.done:
            raise _Detached
        owner.on_response_body(body)

    def on_message_complete(self) -> None:
        if self.informational:
            self.informational = False
            return
        if self.owner is None:
            raise _Detached
        self.done = True

    # ------------------------------------------------------------ for the exchange and pool

    def serve(self, owner: Exchange, head_only: bool) -> None:
        """Carry the response to `owner`'s request from now on."""
        self.owner = owner
        self.head_only = head_only
        self.done = False

    def make_idle(self, now: float) -> None:
        self.owner = None
        self.fields = []
        self.idle_since = now
        if self.stale_parser:
            self.parser = HttpResponseParser(self)
            self.stale_parser = False
        if self.reading_paused:
            self.resume_reading()

    def pause_reading(self) -> None:
        if not self.reading_paused:
            self.reading_paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.reading_paused:
            self.reading_paused = False
            if not self.transport.is_closing():
                self.transport.resume_reading()

    def close(self) -> None:
        self.owner = None
        self.transport.close()

    def discard(self) -> None:
        """Close a connection that is out of step with its upstream."""
        self.pool.forget(self)
        self.close()

    def abort(self) -> None:
        """Cut the connection at once (reset), dropping what is buffered."""
        self.owner = None
        self.transport.abort()

    def __repr__(self) -> str:
        owner = "idle" if self.owner is None else "busy"
        return (
            f"<UpstreamConnection {self.pool.counters.name}#{self.target} {owner} done={self.done}>"
        )
