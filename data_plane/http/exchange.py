"""One request and its response, from the parsed head to the last body byte.

The exchange takes both connections' parser events: the downstream hands it the
request head, body pieces and the request's end; the upstream connection hands it the
response head, body pieces and, after each read, whether the response is whole. No
task, event or timer per request: the only awaitables are opening an upstream
connection and a policy that must wait. Upstream deadlines are checked by the worker's
tick over `ProxyState.watched`, retry backoffs wait in its one timer heap.

Writes towards the upstream are collected in `outbox` while the downstream takes the
events of a read and written in one `writelines` once they are all taken without
error: a request whose framing turns out bad within the bytes just read has sent
nothing upstream.

However it finishes (the response is whole, the gateway answered itself, the response
was cut, the client went away, the tunnel closed), an exchange ends in `_end`, which
lets go of everything it holds exactly once: a connect still in flight, the upstream
connection, the target, the deadline watch, the client's paused reading, the accounting
and the policies' `call.end()`. Whether a failed try is tried again is `RetryPolicy`'s
decision (retry.py). docs/proxy-core.md draws the phases.
"""

from __future__ import annotations

import asyncio
import ssl
from bisect import bisect_left
from inspect import isawaitable
from time import perf_counter
from typing import TYPE_CHECKING, cast

try:
    import cython
except ImportError:  # Cython is only needed to build the compiled twin
    from data_plane import uncompiled as cython

if cython.compiled:
    from cython.cimports.posix.time import CLOCK_MONOTONIC, clock_gettime, timespec

from data_plane.metrics import CONNECT, LATENCY_BOUNDS, PER_TRY, READ, TOTAL
from data_plane.policies import Call, Reply

from . import retry
from .errors import (
    BadUpstreamResponse,
    GatewayTimeout,
    PayloadTooLarge,
    ProxyError,
    RequestTimeout,
    UpstreamConnectFailed,
    UpstreamReset,
    UpstreamTlsFailed,
)
from .flow import BUFFERED, HIGH_WATER, PEER_BUSY, FlowControl
from .forwarding import https_location, with_query
from .head_path import BODY_CHUNKED, BODY_NONE, tunnel_head
from .request import Headers
from .responses import CONTINUE, error_response, reply_response
from .tunnel import open_tunnel

if not cython.compiled:  # compiled, exchange_c.pxd cimports these from the compiled twins
    from data_plane.plan import RoutePlan

    from .forwarding import route_request
    from .head_path import RequestHead, fields_block, reply_head
    from .pool import ServicePool
    from .state import ProxyState
    from .upstream import UpstreamConnection, UpstreamOwner

if TYPE_CHECKING:
    from data_plane.balancing import Upstream
    from data_plane.policies.chain import Decision


_LAST_CHUNK = b"0\r\n\r\n"
_CRLF = b"\r\n"
_CLIENT_BUSY = BUFFERED | PEER_BUSY  # the reasons an exchange pauses its client for

# Exchange phases, in order (docs/proxy-core.md)
_PHASES = ("pending", "routing", "waiting", "connecting", "proxying", "backoff", "tunnel", "done")
PENDING, ROUTING, WAITING, CONNECTING, PROXYING, BACKOFF, TUNNEL, DONE = range(len(_PHASES))
# The sides of a blue/green rollout
ACTIVE, CANDIDATE = 0, 1


def _clock() -> float:
    """`perf_counter()`: CLOCK_MONOTONIC in seconds, read in C in the compiled twin."""
    if cython.compiled:
        now = cython.declare(timespec)
        clock_gettime(CLOCK_MONOTONIC, cython.address(now))
        return now.tv_sec + now.tv_nsec * 1e-9
    return perf_counter()


def _bucket(latency: float) -> int:
    """The latency histogram's bucket of `latency`: `bisect_left(LATENCY_BOUNDS, latency)`,
    counted from the smallest bound up in the compiled twin (most answers fall in the
    first few)."""
    if not cython.compiled:
        return bisect_left(LATENCY_BOUNDS, latency)
    i = 0
    for bound in LATENCY_BOUNDS:
        if latency <= bound:
            return i
        i += 1
    return i


class ClientSide:
    """A client connection as its exchanges see it: a base class (DownstreamConnection
    extends it), so that in the compiled twins an exchange reads these fields as C struct
    members and calls the connection in C, rather than by name on every request."""

    __slots__ = (
        "client",
        "client_bytes",
        "closed",
        "feeding",
        "flow",
        "https",
        "state",
        "transport",
        "writing_paused",
    )

    state: ProxyState
    transport: asyncio.Transport
    flow: FlowControl
    https: bool  # came in through the HTTPS listener
    closed: bool
    feeding: bool  # taking the events of a read
    writing_paused: bool  # the client reads slower than we write
    client: str  # its address
    client_bytes: bytes

    def exchange_finished(self, exchange: Exchange) -> None:
        raise NotImplementedError

    def hold_upstream(self, upstream: UpstreamConnection) -> None:
        raise NotImplementedError

    def fail_request(self, exchange: Exchange, error: ProxyError) -> None:
        raise NotImplementedError

    def cut(self) -> None:
        raise NotImplementedError

    def switched(self) -> None:
        raise NotImplementedError

    def connection_lost(self, exc: Exception | None) -> None:
        raise NotImplementedError


class Exchange(UpstreamOwner):
    """One request of a client connection, and the tries that answer it."""

    __slots__ = (
        "began",
        "block",
        "body_bytes",
        "body_mode",
        "bytes_out",
        "call",
        "client_pending",
        "conn",
        "connect_by",
        "connecting",
        "deadline",
        "deciding",
        "error",
        "failed",
        "fresh_retried",
        "head",
        "head_only",
        "held",
        "keep_alive",
        "last_read",
        "line",
        "outbox",
        "outbox_bytes",
        "phase",
        "plan",
        "reply",
        "request_done",
        "request_id",
        "response_started",
        "retries",
        "reused",
        "sent",
        "side",
        "span",
        "started",
        "state",
        "status",
        "target",
        "traceparent",
        "tracestate",
        "try_began",
        "try_by",
        "until_close",
        "upstream",
        "upstream_keep_alive",
        "upstream_time",
        "watched",
    )

    def __init__(self, conn: ClientSide, head: RequestHead) -> None:
        self.conn = conn
        self.state: ProxyState = conn.state
        self.head = head
        request = self.head  # in the compiled twin a RequestHead: its fields are C reads
        self.phase = PENDING
        self.head_only = request.method == b"HEAD"
        self.request_done = not request.has_body
        self.request_id = b""
        self.started = 0.0  # loop time, for deadlines
        self.began = 0.0  # perf_counter(), for latency; 0: never started
        self.side = ACTIVE  # which config of a rollout serves it
        # Where it goes
        self.plan: RoutePlan | None = None
        self.call: Call | None = None  # the request as the route's policies see it
        self.deciding: asyncio.Future[Decision] | None = None  # a policy that waits
        self.target: Upstream | None = None
        self.upstream: UpstreamConnection | None = None
        self.connecting: asyncio.Future[tuple[asyncio.Transport, asyncio.Protocol]] | None = None
        self.line = b""  # the request line sent upstream
        self.block = b""  # the fields after Host, through the blank line
        # Request body on its way up
        self.outbox: list[bytes] = []
        self.outbox_bytes = 0  # bytes held while no connection is ready
        self.body_bytes = 0
        # The body as sent so far, kept to send it again; None: not kept (none, or too big)
        self.held: list[bytes] | None = (
            []
            if request.has_body and (request.chunked or request.content_length <= retry.HELD_BODY)
            else None
        )
        self.sent = False  # some byte of this try reached its upstream connection
        self.client_pending: list[bytes] | None = None  # tunnel bytes sent before the 101
        # Response on its way down
        self.reply: list[bytes] = []
        self.status = 0
        self.body_mode = BODY_NONE
        self.until_close = False  # the upstream's body ends when its connection does
        # An Upgrade request that is not switched ends its connection.
        self.keep_alive = request.keep_alive and request.upgrade is None
        self.upstream_keep_alive = False
        self.response_started = False  # a response byte went (or is going) to the client
        self.bytes_out = 0  # response body bytes for the client
        self.error: ProxyError | None = None  # what the gateway answered with, if it did
        self.try_began = 0.0  # perf_counter() when the last try picked its target
        self.upstream_time = -1.0  # seconds from the last try to its response head
        # Trace context sent upstream (tracing.py); `span`: the SDK's, when exporting
        self.traceparent = b""
        self.tracestate: bytes | None = None
        self.span: object | None = None
        # Deadlines and retries
        self.watched = False
        self.connect_by = 0.0
        self.try_by = 0.0  # of the per-try timeout, 0: none
        self.deadline = 0.0  # of the total timeout, 0: none
        self.last_read = 0.0
        self.retries = 0  # service retries made
        self.reused = False  # this try runs on a pooled connection
        self.fresh_retried = False  # the transport's one retry is spent
        self.failed: Upstream | None = None  # the target of the last failed try

    # ------------------------------------------------------------ routing

    def start(self) -> None:
        """Route the request, run its policies, then hand it to an upstream connection."""
        conn = self.conn
        state = self.state
        head = self.head
        self.phase = ROUTING
        self.began = _clock()
        self.started = state.loop.time()
        self.request_id = head.request_id or state.next_request_id()
        state.tracing.start(self)
        try:
            config = state.config
            candidate = state.candidate
            if candidate is not None and candidate.pick(head, conn.client):
                config = candidate.config
                self.side = CANDIDATE
            plan, self.line = route_request(config.table, head)  # type: ignore[union-attr]
            self.plan = plan
            if plan.https_only and not conn.https:
                location = https_location(head, state.https_port)
                self.answer(Reply(308, [(b"Location", location)]))
                return
            if head.content_length > plan.max_body or self.body_bytes > plan.max_body:
                raise PayloadTooLarge(f"the body exceeds this route's {plan.max_body} bytes")
            if plan.chain is not None:
                self.call = call = Call(head, conn.client, head.target.partition(b"?")[2])
                verdict = plan.chain.on_request(call)
                if verdict is not None:
                    if isawaitable(verdict):
                        self.phase = WAITING
                        self.deciding = asyncio.ensure_future(verdict)
                        self.deciding.add_done_callback(self._policy_done)
                    else:
                        self.answer(verdict)
                    return
        except ProxyError as error:
            self.answer(error)
            return
        self._forward()

    def _policy_done(self, future: asyncio.Future[Decision]) -> None:
        self.deciding = None
        if self.phase != WAITING:
            return  # the client went away meanwhile
        try:
            verdict = future.result()
        except Exception as exc:  # a policy's failure is the gateway's 500, not a crash
            verdict = ProxyError("a policy of the route failed", detail=f"a policy failed: {exc!r}")
        if verdict is not None:
            self.answer(verdict)
        else:
            self._forward()

    def _forward(self) -> None:
        head = self.head
        conn = self.conn
        plan = self.plan
        assert plan is not None
        call = self.call
        if call is not None and call.query_changed:
            self.line = with_query(self.line, len(head.method), call.query)
        self.block = fields_block(
            head,
            conn.client_bytes,
            self.request_id,
            self.traceparent,
            self.tracestate,
            https=conn.https,
        )
        if head.expect_continue and not self.request_done and head.version == b"1.1":
            conn.transport.write(CONTINUE)
        service = plan.service
        if self.held is not None and not service.retry_policy.replays(head.method):
            self.held = None  # no try will ever be sent again after bytes of it went out
        service.retry_budget.requests += 1
        if plan.total_timeout:
            self.deadline = self.started + plan.total_timeout
        self.watched = True
        self.state.watched.add(self)
        self._try()

    # ------------------------------------------------------------ one try

    def _try(self) -> None:
        """Pick a target (avoiding the one that just failed) and send the request to it."""
        plan = self.plan
        assert plan is not None
        service = plan.service
        key = None if service.hash_key is None else service.hash_key(self.head, self.conn.client)
        target = service.balancer.pick(key, self.failed)
        if target is None:
            self.answer(service.unavailable())
            return
        bulkhead = service.bulkhead
        if bulkhead is not None:
            call = self.call
            refused = bulkhead.enter(plan.priorities.of(None if call is None else call.tier))
            if refused is not None:
                self.answer(refused)
                return
        if target.probing:
            service.trial(target)
        self.target = target
        self.try_began = _clock()
        target.active += 1
        service.active += 1
        state = self.state
        if plan.per_try_timeout:
            self.try_by = state.loop.time() + plan.per_try_timeout
        pool: ServicePool = service.pool
        upstream = None if self.fresh_retried else pool.acquire(target.index)
        self.reused = upstream is not None
        if upstream is not None:
            self._attach(upstream)
            return
        self._connect(pool, target, state)

    def _connect(self, pool: ServicePool, target: Upstream, state: ProxyState) -> None:
        """Open a new connection to `target` (its own step: the closure it makes is made
        only when a try connects, not on every try)."""
        plan = self.plan
        assert plan is not None
        service = plan.service
        loop = state.loop
        self.phase = CONNECTING
        self.connect_by = loop.time() + plan.connect_timeout
        tls = service.tls
        self.connecting = connecting = asyncio.ensure_future(
            loop.create_connection(
                # An asyncio protocol by its methods (a compiled class has no Python base)
                lambda: cast(asyncio.Protocol, UpstreamConnection(pool, target.index, state)),
                target.host,
                target.port,
                ssl=tls,
                server_hostname=None if tls is None else service.server_names[target.index],
            )
        )
        connecting.add_done_callback(self._connected)

    def _connected(
        self, connecting: asyncio.Future[tuple[asyncio.Transport, asyncio.Protocol]]
    ) -> None:
        if connecting is not self.connecting:
            # The exchange let go of this connect (it ended, or the connect timed out):
            # a connection that opened all the same is closed, never left open.
            if not connecting.cancelled() and connecting.exception() is None:
                cast(UpstreamConnection, connecting.result()[1]).close()
            return
        self.connecting = None
        error = connecting.exception()
        if error is None:
            self._attach(cast(UpstreamConnection, connecting.result()[1]))
            return
        self.plan.service.counters.connect_errors += 1  # type: ignore[union-attr]
        where = self._target_name()
        failed: ProxyError
        if isinstance(error, ssl.SSLError):
            failed = UpstreamTlsFailed(
                "the upstream's TLS handshake failed", detail=f"TLS with {where}: {error}"
            )
        else:
            failed = UpstreamConnectFailed(
                "the upstream could not be reached", detail=f"cannot connect to {where}: {error}"
            )
        self._failed(retry.CONNECT_FAILED, failed)

    def _attach(self, upstream: UpstreamConnection) -> None:
        plan = self.plan
        target = self.target
        assert plan is not None and target is not None
        conn = self.conn
        self.upstream = upstream
        upstream.serve(self, self.head_only)
        if conn.writing_paused:
            conn.hold_upstream(upstream)
        self.phase = PROXYING
        # One piece for the whole head: each piece of a write costs more than copying it.
        self.outbox.insert(0, self.line + plan.service.host_lines[target.index] + self.block)
        if not conn.feeding:
            self.flush()
        self.last_read = self.state.now

    def flush(self) -> None:
        """Write what waits in the outbox to the upstream connection."""
        upstream = self.upstream
        outbox = self.outbox
        if upstream is None or not outbox:
            return
        if len(outbox) == 1:
            upstream.transport.write(outbox[0])
        else:
            upstream.transport.writelines(outbox)
        self.outbox = []
        self.sent = True
        if self.outbox_bytes:
            self.outbox_bytes = 0
            self.conn.flow.resume(BUFFERED)

    def upstream_congested(self, congested: bool) -> None:
        if congested:
            self.conn.flow.pause(PEER_BUSY)
        else:
            self.conn.flow.resume(PEER_BUSY)

    def client_resumed(self, now: float) -> None:
        """The client took what was held for it: the read timeout counts from `now`, not
        reading the upstream meanwhile was the client's doing."""
        self.last_read = now

    # ------------------------------------------------------------ request body

    def on_request_body(self, chunk: bytes) -> None:
        self.body_bytes += len(chunk)
        plan = self.plan
        if plan is not None and self.body_bytes > plan.max_body:
            self.conn.fail_request(self, PayloadTooLarge(f"the body exceeds {plan.max_body} bytes"))
            return
        if self.phase == DONE:
            return
        held = self.held
        pieces = (b"%x\r\n" % len(chunk), chunk, _CRLF) if self.head.chunked else (chunk,)
        self.outbox += pieces
        if held is not None:
            held += pieces
        if held is not None and self.body_bytes > retry.HELD_BODY:
            self.held = None  # too big to keep: this request is not sent again
        if self.upstream is None:
            # Held until a connection is ready: stop reading once enough is held.
            self.outbox_bytes += len(chunk)
            if self.outbox_bytes > HIGH_WATER:
                self.conn.flow.pause(BUFFERED)

    def on_request_complete(self) -> None:
        self.request_done = True
        if self.head.chunked and self.phase != DONE:
            self.outbox.append(_LAST_CHUNK)
            if self.held is not None:
                self.held.append(_LAST_CHUNK)
        # Waiting for the answer starts now: the read and per-try timeouts count from here.
        now = self.last_read = self.state.now
        if self.try_by:
            self.try_by = now + self.plan.per_try_timeout  # type: ignore[union-attr]

    # ------------------------------------------------------------ response

    def on_response_head(self, status: int, fields: Headers, keep_alive: bool) -> None:
        if 502 <= status <= 504 and self._retry(retry.answered(status)):
            return
        self.upstream_time = _clock() - self.try_began
        plan = self.plan
        assert plan is not None
        if plan.chain is not None:
            plan.chain.on_response(self.call, status, fields)  # type: ignore[arg-type]
        state = self.state
        data, self.body_mode, self.keep_alive, self.until_close = reply_head(
            status,
            fields,
            self.head_only,
            self.head.version,
            self.keep_alive and self.request_done and not state.draining,
            state.date_line,
            self.request_id,
        )
        self.status = status
        self.upstream_keep_alive = keep_alive
        self.response_started = True
        self.reply.append(data)

    def on_response_body(self, chunk: bytes) -> None:
        self.bytes_out += len(chunk)
        if self.body_mode == BODY_CHUNKED:
            self.reply += (b"%x\r\n" % len(chunk), chunk, _CRLF)
        else:
            self.reply.append(chunk)

    def response_read(self, complete: bool) -> None:
        """After each read from the upstream: send what it produced, end if it is whole."""
        self.last_read = self.state.now
        reply = self.reply
        if reply:
            if complete and self.body_mode == BODY_CHUNKED:
                reply.append(_LAST_CHUNK)
            self.conn.transport.writelines(reply)
            self.reply = []
        elif complete and self.body_mode == BODY_CHUNKED:
            self.conn.transport.write(_LAST_CHUNK)
        if complete:
            if not self.request_done:
                self.keep_alive = False  # the rest of the body will not be read
            self._end(True, complete=True)

    def upstream_lost(self, exc: Exception | None) -> None:
        """The upstream connection closed while this exchange owned it (or its tunnel)."""
        if self.phase >= TUNNEL:
            self._end(False)  # the tunnel closed (ending the exchange, if not yet ended)
            return
        self.upstream = None
        if exc is None and self.until_close:
            self.response_read(True)  # a body without length or chunks ends with the connection
            return
        reason = "closed the connection" if exc is None else f"reset the connection ({exc})"
        said = "closed" if exc is None else "reset"
        reset = UpstreamReset(
            f"the upstream {said} the connection before its response was whole",
            detail=f"{self._target_name()} {reason}",
        )
        self._failed(retry.RESET, reset)

    def upstream_failed(self, error: ProxyError) -> None:
        """The upstream's reply cannot be used."""
        self._failed(retry.BAD_RESPONSE, error)

    # ------------------------------------------------------------ failed tries

    def _failed(self, failure: int, error: ProxyError) -> None:
        """The try ended in `failure`: try again if the policy allows, else answer `error`."""
        if self._retry(failure):
            return
        target = self.target
        if target is not None:
            self.plan.service.report(target, failure)  # type: ignore[union-attr]
        self._fail(error)

    def _retry(self, failure: int) -> bool:
        """Let go of the failed try and start another, if the policy and budget allow."""
        plan = self.plan
        assert plan is not None
        service = plan.service
        head = self.head
        state = retry.TryState(
            self.retries,
            self.response_started,
            head.upgrade is None and (not head.has_body or self.held is not None),
            head.method in retry.IDEMPOTENT,
            self.reused,
            self.fresh_retried,
        )
        action = service.retry_policy.decide(state, failure)
        if action == retry.FAIL:
            return False
        loop = self.state.loop
        if action != retry.FRESH and not service.retry_budget.withdraw(loop.time()):
            service.counters.retry_budget_exhausted += 1
            return False
        service.counters.retries += 1
        self._drop_connect()
        upstream = self.upstream
        if upstream is not None:
            self.upstream = None
            upstream.abort()
        target = self._leave_target()
        if target is not None:
            service.report(target, failure, blame=action != retry.FRESH)
        # The transport's retry is no fault of the target's: any target may take it.
        self.failed = None if action == retry.FRESH else target
        if self.sent:
            self.sent = False
            self.outbox = [] if self.held is None else list(self.held)
        if action == retry.FRESH:
            self.fresh_retried = True
            self._try()
        else:
            self.phase = BACKOFF
            self.state.wake_later(service.retry_policy.backoff(self.retries), self)
            self.retries += 1
        return True

    def wake(self) -> None:
        """The backoff before a retry is over."""
        if self.phase == BACKOFF:
            self._try()

    # ------------------------------------------------------------ upgrade tunnel

    def upstream_switched(self, fields: Headers, rest: bytes) -> None:
        """The upstream answered 101: hand both connections to a tunnel."""
        upstream = self.upstream
        plan = self.plan
        assert upstream is not None and plan is not None
        if self.head.upgrade is None:
            unasked = BadUpstreamResponse("the upstream switched protocols unasked")
            self._failed(retry.BAD_RESPONSE, unasked)
            return
        conn = self.conn
        self.phase = TUNNEL
        self.status = 101
        self.response_started = True
        self.upstream = None  # the tunnel's now: its end tells this exchange when it closes
        self._unwatch()
        plan.counters.statuses[1] += 1
        plan.service.report(self.target, retry.OK)  # type: ignore[arg-type]
        self.upstream_time = _clock() - self.try_began
        conn.transport.write(tunnel_head(fields, self.state.date_line, self.request_id))
        if rest:
            conn.transport.write(rest)
        conn.switched()
        open_tunnel(conn.transport, conn, upstream.transport, upstream)
        if self.client_pending:
            upstream.transport.writelines(self.client_pending)
        self.client_pending = None

    def client_tunnel_data(self, data: bytes) -> None:
        """Bytes the client sent after its Upgrade request, before the 101."""
        if self.client_pending is None:
            self.client_pending = []
        self.client_pending.append(data)
        self.conn.flow.pause(BUFFERED)

    # ------------------------------------------------------------ deadlines

    def check_deadlines(self, now: float) -> None:
        """Called by the worker's tick: a connect, per-try, read or total timeout passed."""
        plan = self.plan
        phase = self.phase
        if plan is None or not CONNECTING <= phase <= BACKOFF:
            return
        timeouts = plan.service.counters.timeouts
        if self.deadline and now >= self.deadline:
            timeouts[TOTAL] += 1
            error = GatewayTimeout("the upstream did not answer in the total time")
            self._failed(retry.READ_TIMEOUT, error)
        elif phase == BACKOFF:
            return
        elif phase == CONNECTING and now >= self.connect_by:
            timeouts[CONNECT] += 1
            error = GatewayTimeout(
                "connecting to the upstream timed out",
                detail=f"connecting to {self._target_name()} timed out",
            )
            self._failed(retry.CONNECT_TIMEOUT, error)
        elif 0 < self.try_by <= now and self.request_done and not self.response_started:
            # The per-try time counts once the request is all in, like the read timeout.
            timeouts[PER_TRY] += 1
            error = GatewayTimeout("the upstream did not answer within the per-try time")
            self._failed(retry.PER_TRY_TIMEOUT, error)
        elif phase == CONNECTING:
            return
        elif not self.request_done and not self.response_started:
            # The client is still sending: the upstream is not late yet.
            self.last_read = now
        elif self.upstream is not None and self.upstream.reading_paused:
            # The client reads slower than the upstream sends: the upstream is not
            # late, the client is. One that takes nothing for the idle timeout is cut.
            if now - self.last_read >= self.state.limits.idle_timeout:
                self._fail(RequestTimeout("the client stopped reading"))
        elif now - self.last_read >= plan.read_timeout:
            timeouts[READ] += 1
            self._failed(retry.READ_TIMEOUT, GatewayTimeout("the upstream did not answer in time"))

    # ------------------------------------------------------------ endings

    def answer(self, verdict: ProxyError | Reply) -> None:
        """Answer the client with the gateway's own response (an error, or a policy's
        reply made at the edge), and end."""
        conn = self.conn
        state = self.state
        if not self.request_id:
            self.request_id = state.next_request_id()
        closes = isinstance(verdict, ProxyError) and verdict.closes
        close = closes or not self.keep_alive or not self.request_done or state.draining
        self.keep_alive = not close
        self.status = verdict.status
        self.response_started = True
        if isinstance(verdict, ProxyError):
            self.error = verdict
        fields = list(verdict.fields if isinstance(verdict, Reply) else verdict.headers)
        plan = self.plan
        if plan is not None and plan.chain is not None and self.call is not None:
            plan.chain.on_response(self.call, verdict.status, fields)
        if isinstance(verdict, Reply):
            data = reply_response(
                verdict.status, fields, self.request_id, state.date_line, close=close
            )
        else:
            data = error_response(
                verdict,
                self.request_id,
                state.date_line,
                close=close,
                head_only=self.head_only,
                fields=fields,
            )
        if not self.head_only:
            self.bytes_out = len(data) - data.find(b"\r\n\r\n") - 4
        conn.transport.write(data)
        self._end(True)

    def _fail(self, error: ProxyError) -> None:
        if not self.response_started:
            self.answer(error)
            return
        # Part of the response is out: the client must not mistake it for a whole one.
        self.error = error
        self.status = error.status
        self.keep_alive = False
        self.conn.cut()
        self._end(True)

    def abandon(self) -> None:
        """The client is gone or its request broke: let go of everything, quietly."""
        self._end(False, complete=False, notify=False)

    def _end(self, account: bool, complete: bool = False, notify: bool = True) -> None:
        """Let go of everything this exchange holds, once, however it finished.

        `account`: count the answer and its latency; `complete`: the upstream's response
        is whole, so its connection may serve another request; `notify`: tell the client
        connection, which then closes or starts the next request.
        """
        if self.phase == DONE:
            return
        self.phase = DONE
        conn = self.conn
        state = self.state
        if self.watched:
            self.watched = False
            state.watched.discard(self)
        if self.deciding is not None:
            self.deciding.cancel()  # the rest of the chain never runs for a gone request
        if self.connecting is not None:
            self._drop_connect()
        upstream = self.upstream
        if upstream is not None:
            self.upstream = None
            pool: ServicePool = upstream.pool
            if complete:
                clean = self.upstream_keep_alive and self.request_done and not self.outbox
                if clean and not conn.closed:
                    pool.release(upstream, state.now)
                else:
                    upstream.close()
            elif self.sent:
                upstream.abort()  # the upstream is mid-request or mid-response
            else:
                pool.release(upstream, state.now)  # as clean as the pool gave it
        plan = self.plan
        target = self.target
        if target is not None:  # give back the try's place (_leave_target, inlined)
            self.target = None
            service = plan.service  # type: ignore[union-attr]
            target.active -= 1
            service.active -= 1
            if service.bulkhead is not None:
                service.bulkhead.leave()
        latency = _clock() - self.began if self.began else 0.0
        if account:
            if self.side or state.candidate is not None:  # a rollout's figures, per side
                state.metrics.sides[self.side].count(self.status, latency)
            if plan is None:
                state.metrics.unrouted.statuses[self.status // 100] += 1
            else:
                plan.counters.statuses[self.status // 100] += 1
                if self.began:
                    counters = plan.service.counters
                    counters.buckets[_bucket(latency)] += 1
                    counters.latency_sum += latency
                    if complete and target is not None:
                        service = plan.service
                        status = self.status
                        ok = not 502 <= status <= 504
                        service.report(target, retry.OK if ok else retry.answered(status))
                        if service.observe is not None:
                            service.observe(target, latency)
        access_log = state.access_log
        if access_log is not None and self.began:
            # Nothing answered: the client went away first (nginx's 499).
            access_log.exchange(self, target, self.status or 499, latency)
        if self.span is not None:
            state.tracing.end(self, target or self.failed, self.status or 499)
        call = self.call
        if call is not None:
            self.call = None
            call.end()
        if conn.flow.reasons & _CLIENT_BUSY:
            conn.flow.resume(_CLIENT_BUSY)
        if notify:
            conn.exchange_finished(self)

    @property
    def ended(self) -> bool:
        """Whether the exchange has let go of everything (answered, cut or abandoned)."""
        return self.phase == DONE

    def _unwatch(self) -> None:
        if self.watched:
            self.watched = False
            self.state.watched.discard(self)

    def _drop_connect(self) -> None:
        connecting = self.connecting
        if connecting is not None:
            self.connecting = None
            connecting.cancel()  # a connection that opens all the same is closed

    def _leave_target(self) -> Upstream | None:
        """Give back the try's place: the target's and service's active counts, the bulkhead."""
        target = self.target
        if target is not None:
            self.target = None
            service = self.plan.service  # type: ignore[union-attr]
            target.active -= 1
            service.active -= 1
            if service.bulkhead is not None:
                service.bulkhead.leave()
        return target

    def _target_name(self) -> str:
        target = self.target
        return "the upstream" if target is None else f"upstream {target.address}"

    def __repr__(self) -> str:
        return (
            f"<Exchange {self.head.method.decode()} {self.head.target!r}"
            f" {_PHASES[self.phase]} status={self.status} retries={self.retries}>"
        )
