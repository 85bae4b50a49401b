"""One keep-alive connection to an upstream target, reading responses with heads'
`ResponseParser`.

The connection serves one owner (an exchange) at a time and reports to it what the
parser hands back: a response head, body pieces, and after each read whether the
response is whole; or that the reply is unusable, that the connection closed, that it
switched protocols. It knows nothing of the exchange's state or of the pool beyond
giving the pool's counters its opening and closing (httpcore: a connection knows
nothing of the pool); its fields are its own, changed by its own methods only.

Bytes that arrive while no one owns the connection, or after its response ended,
mean the connection is out of step with the upstream: it is closed, never reused.
1xx informational responses are skipped by the parser (the gateway answered any
Expect itself); a 101 is reported as a switch, and the tunnel takes the connection over.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, cast

try:
    import cython
except ImportError:  # Cython is only needed to build the compiled twin
    from data_plane import uncompiled as cython

from .errors import BadUpstreamResponse, ProxyError
from .flow import HIGH_WATER, LOW_WATER
from .head_path import END

if not cython.compiled:  # compiled, upstream_c.pxd cimports the compiled twins' classes
    from .head_path import ResponseHead, ResponseParser
    from .state import ProxyState

if TYPE_CHECKING:
    from .pool import ServicePool
    from .request import Headers

log = logging.getLogger("fleetgate.proxy")


class UpstreamOwner:
    """What an upstream connection reports to (an exchange): a base class, so that in the
    compiled twins the connection calls its owner in C, through the class's method table,
    rather than by looking the method up by name on every event."""

    __slots__ = ()

    def on_response_head(self, status: int, fields: Headers, keep_alive: bool) -> None:
        raise NotImplementedError

    def on_response_body(self, chunk: bytes) -> None:
        raise NotImplementedError

    def response_read(self, complete: bool) -> None:
        raise NotImplementedError

    def upstream_lost(self, exc: Exception | None) -> None:
        raise NotImplementedError

    def upstream_failed(self, error: ProxyError) -> None:
        raise NotImplementedError

    def upstream_switched(self, fields: Headers, rest: bytes) -> None:
        raise NotImplementedError

    def upstream_congested(self, congested: bool) -> None:
        raise NotImplementedError

    def client_resumed(self, now: float) -> None:
        raise NotImplementedError


class UpstreamConnection:
    """An asyncio protocol (by its methods: a compiled class has no Python base)."""

    __slots__ = (
        "done",
        "idle_since",
        "out_of_step",
        "owner",
        "parser",
        "pool",
        "reading_paused",
        "state",
        "target",
        "transport",
    )

    def __init__(self, pool: ServicePool, target: int, state: ProxyState) -> None:
        self.pool = pool
        self.target = target  # the Upstream's index in its service
        self.state = state
        limits = state.limits
        self.parser = ResponseParser(limits.max_header_bytes, limits.max_header_count)
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        # Per-response state
        self.owner: UpstreamOwner | None = None
        self.done = False  # the current response has ended
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
        if owner is None or self.done:
            # Bytes beyond the response, or while nobody asked: out of step.
            self.out_of_step = True
            if owner is None:
                self.discard()
            return
        parser = self.parser
        parser.feed(data)
        try:
            while True:
                event = parser.next_event()
                if event is None:
                    break
                if event.__class__ is bytes:
                    owner.on_response_body(event)
                elif event is END:
                    self.done = True
                    if parser.pending:
                        self.out_of_step = True  # serve the response, never reuse
                    break
                else:
                    head: ResponseHead = event  # type: ignore[assignment]
                    if head.status == 101:
                        owner.upstream_switched(head.fields, parser.take_rest())
                        return
                    owner.on_response_head(head.status, head.fields, head.keep_alive)
                    if not parser.expecting:
                        self.done = True  # a response without a body is whole with its head
                        if parser.pending:
                            self.out_of_step = True
                        break
                if self.owner is not owner:
                    return  # the exchange let go (a retry, a failure): nothing more for it
        except ProxyError as error:
            if self.owner is owner:
                owner.upstream_failed(error)
            return
        except Exception as exc:  # a fault of the gateway's: this response is lost, not the worker
            log.error("upstream response handling failed", exc_info=exc)
            if self.owner is owner:
                owner.upstream_failed(BadUpstreamResponse(f"unusable upstream reply: {exc}"))
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

    # ------------------------------------------------------------ for the exchange and pool

    def serve(self, owner: UpstreamOwner, head_only: bool) -> None:
        """Carry the response to `owner`'s request from now on."""
        self.owner = owner
        self.done = False
        self.parser.start(head_only)

    def make_idle(self, now: float) -> None:
        self.owner = None
        self.idle_since = now
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
