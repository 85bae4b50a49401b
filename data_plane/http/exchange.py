"""One request and its response, from the parsed head to the last body byte.

The exchange is wired straight into both connections' callbacks: the downstream
parser hands it the request head, body and end; the upstream parser hands it the
response. No task, event or timer per request: the only awaitables are opening an
upstream connection and a policy that must wait, and upstream deadlines are checked
by the worker's tick over `ProxyState.watched`.

Writes towards the upstream are collected in `outbox` while the downstream parser
runs and written in one `writelines` after it returns without error: a request whose
framing turns out bad within the bytes just read has sent nothing upstream.

Retries (DESIGN.md): a failed connect is tried again on another target while the
service's `retries` last, whatever the method, since nothing was sent. An idempotent
request without a body that meets a reset before any response byte is sent once more
on a fresh connection when the failed one came from the pool, and otherwise again
within `retries`, as is a 502 or 503 answer to it. Nothing is retried once a
response byte went to the client, nor after a read timeout.
"""

from __future__ import annotations

import asyncio
from bisect import bisect_left
from inspect import isawaitable
from typing import TYPE_CHECKING

from data_plane.metrics import CONNECT, LATENCY_BOUNDS, READ, TOTAL
from data_plane.policies import Call, Reply
from data_plane.routing import BadPath, MethodNotAllowed, already_normalized, normalize_path

from .errors import (
    BadRequest,
    BadUpstreamResponse,
    GatewayTimeout,
    NoRouteForMethod,
    PayloadTooLarge,
    ProxyError,
    RequestTimeout,
    RouteNotFound,
    ServiceUnavailable,
    UpstreamConnectFailed,
    UpstreamReset,
)
from .flow import BUFFERED, HIGH_WATER, PEER_BUSY
from .forwarding import fields_block, request_line
from .reply import BODY_CHUNKED, BODY_NONE, reply_head, tunnel_head
from .request import Headers, RequestHead, headers_by_name
from .responses import CONTINUE, error_response, reply_response
from .upstream import UpstreamConnection

if TYPE_CHECKING:
    from data_plane.balancing import Upstream
    from data_plane.policies.chain import Decision
    from data_plane.runtime import RoutePlan

    from .downstream import DownstreamConnection

IDEMPOTENT = frozenset({b"GET", b"HEAD", b"OPTIONS", b"TRACE", b"PUT", b"DELETE"})
METHOD_NAMES = {
    m: m.decode()
    for m in (b"GET", b"HEAD", b"POST", b"PUT", b"PATCH", b"DELETE", b"OPTIONS", b"TRACE")
}
_LAST_CHUNK = b"0\r\n\r\n"
_CRLF = b"\r\n"

# Exchange phases, in order
QUEUED, ROUTING, WAITING, CONNECTING, SENT, TUNNEL, DONE = range(7)
_PHASE_NAMES = ("queued", "routing", "waiting", "connecting", "sent", "tunnel", "done")


class Exchange:
    __slots__ = (
        "block",
        "body_bytes",
        "body_mode",
        "call",
        "client_pending",
        "conn",
        "connect_by",
        "connecting",
        "deadline",
        "fresh_retry",
        "head",
        "head_only",
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
        "started",
        "status",
        "target",
        "until_close",
        "upstream",
        "upstream_keep_alive",
        "watched",
    )

    def __init__(self, conn: DownstreamConnection, head: RequestHead) -> None:
        self.conn = conn
        self.head = head
        self.phase = QUEUED
        self.head_only = head.method == b"HEAD"
        self.request_done = not head.has_body
        self.request_id = b""
        self.started = 0.0
        # Where it goes
        self.plan: RoutePlan | None = None
        self.call: Call | None = None  # the request as the route's policies see it
        self.target: Upstream | None = None
        self.upstream: UpstreamConnection | None = None
        self.connecting: asyncio.Future[tuple[asyncio.Transport, UpstreamConnection]] | None = None
        self.line = b""  # the request line sent upstream
        self.block = b""  # the fields after Host, through the blank line
        # Request body on its way up
        self.outbox: list[bytes] = []
        self.outbox_bytes = 0  # bytes held while no connection is ready
        self.body_bytes = 0
        self.sent = False  # some byte of this request reached an upstream
        self.client_pending: list[bytes] | None = None  # tunnel bytes sent before the 101
        # Response on its way down
        self.reply: list[bytes] = []
        self.status = 0
        self.body_mode = BODY_NONE
        self.until_close = False  # the upstream's body ends when its connection does
        # An Upgrade request that is not switched ends its connection.
        self.keep_alive = head.keep_alive and head.upgrade is None
        self.upstream_keep_alive = False
        self.response_started = False
        # Deadlines and retries
        self.watched = False
        self.connect_by = 0.0
        self.deadline = 0.0  # of the total timeout, 0: none
        self.last_read = 0.0
        self.retries = 0
        self.reused = False
        self.fresh_retry = False

    # ------------------------------------------------------------ routing

    def start(self) -> None:
        """Route the request, run its policies, then hand it to an upstream connection."""
        conn = self.conn
        state = conn.state
        head = self.head
        self.phase = ROUTING
        self.started = state.loop.time()
        self.request_id = head.request_id or state.next_request_id()
        try:
            plan = self._route()
            if head.content_length > plan.max_body or self.body_bytes > plan.max_body:
                raise PayloadTooLarge(f"the body exceeds this route's {plan.max_body} bytes")
            if plan.chain is not None:
                target = head.target
                mark = target.find(b"?")
                query = b"" if mark < 0 else target[mark + 1 :]
                self.call = call = Call(head, conn.client, query)
                verdict = plan.chain.on_request(call)
                if verdict is not None:
                    if isawaitable(verdict):
                        self.phase = WAITING
                        asyncio.ensure_future(verdict).add_done_callback(self._policy_done)
                    else:
                        self._decided(verdict)
                    return
        except ProxyError as error:
            self.respond_local(error)
            return
        self._forward()

    def _route(self) -> RoutePlan:
        head = self.head
        target = head.target
        query = target.find(b"?")
        raw_path = target if query < 0 else target[:query]
        try:
            path = already_normalized(raw_path)
            as_received = path is not None
            if path is None:
                path = normalize_path(raw_path)
            table = self.conn.state.config.table  # type: ignore[union-attr]
            method = METHOD_NAMES.get(head.method) or head.method.decode("ascii")
            headers = headers_by_name(head) if table.needs_headers else None
            match = table.match(method, head.host.decode("latin-1"), path, headers)
        except BadPath as exc:
            raise BadRequest(str(exc)) from None
        if match is None:
            raise RouteNotFound(f"no route for {method} {path}")
        if isinstance(match, MethodNotAllowed):
            raise NoRouteForMethod(
                f"the route does not take {method}", headers=((b"Allow", match.allow.encode()),)
            )
        self.plan = plan = match.route
        forwarded = match.path
        if as_received and forwarded is path:
            # The path needed no normalizing and the route keeps it: the target goes up
            # as received, query and all.
            self.line = head.method + b" " + target + b" HTTP/1.1\r\n"
        else:
            self.line = request_line(head, forwarded.encode("ascii"))
        return plan

    def _policy_done(self, future: asyncio.Future[Decision]) -> None:
        if self.phase != WAITING:
            return  # the client went away meanwhile
        try:
            verdict = future.result()
        except Exception as exc:  # a policy's failure is the gateway's 500, not a crash
            verdict = ProxyError(f"a policy failed: {exc!r}")
        if verdict is not None:
            self._decided(verdict)
        else:
            self._forward()

    def _decided(self, verdict: ProxyError | Reply) -> None:
        """A policy answered the request itself: refused it, or answered at the edge."""
        if isinstance(verdict, ProxyError):
            self.respond_local(verdict)
        else:
            self.reply_local(verdict)

    def _forward(self) -> None:
        head = self.head
        conn = self.conn
        call = self.call
        if call is not None and call.query_changed:
            self.line = _with_query(self.line, len(head.method), call.query)
        self.block = fields_block(head, conn.client_bytes, self.request_id)
        if head.expect_continue and not self.request_done and head.version == b"1.1":
            conn.transport.write(CONTINUE)
        self._send(None)

    def _send(self, failed: Upstream | None) -> None:
        """Pick a target (avoiding `failed`) and give the request to a connection to it."""
        service = self.plan.service  # type: ignore[union-attr]
        if service.max_concurrent and service.active >= service.max_concurrent:
            self.respond_local(ServiceUnavailable(f"service {service.name} is at its limit"))
            return
        key = None if service.hash_key is None else service.hash_key(self.head, self.conn.client)
        target = service.balancer.pick(key, failed)
        if target is None:
            self.respond_local(ServiceUnavailable(f"service {service.name} has no healthy target"))
            return
        self.target = target
        target.active += 1
        service.active += 1
        upstream = None if self.fresh_retry else service.pool.acquire(target.index)
        if upstream is None:
            self.reused = False
            self._connect(target)
            return
        self.reused = True
        self._attach(upstream)

    # ------------------------------------------------------------ a new upstream connection

    def _connect(self, target: Upstream) -> None:
        plan = self.plan
        assert plan is not None
        state = self.conn.state
        loop = state.loop
        pool = plan.service.pool
        self.phase = CONNECTING
        self.connecting = connecting = asyncio.ensure_future(
            loop.create_connection(
                lambda: UpstreamConnection(pool, target.index, state), target.host, target.port
            )
        )
        connecting.add_done_callback(self._connected)
        self.connect_by = loop.time() + plan.connect_timeout
        self._watch()

    def _connected(
        self, connecting: asyncio.Future[tuple[asyncio.Transport, UpstreamConnection]]
    ) -> None:
        if connecting is not self.connecting:
            # The exchange let go of this attempt; a clean new connection serves the pool.
            if not connecting.cancelled() and connecting.exception() is None:
                _, upstream = connecting.result()
                upstream.pool.release(upstream, self.conn.state.now)
            return
        self.connecting = None
        self._unwatch()
        if connecting.cancelled():
            return
        error = connecting.exception()
        if error is not None:
            service = self.plan.service  # type: ignore[union-attr]
            service.counters.connect_errors += 1
            self._retry_or_fail(
                UpstreamConnectFailed(f"cannot connect to {self._target_name()}: {error}"),
                connect=True,
            )
            return
        _, upstream = connecting.result()
        self._attach(upstream)

    def _connect_timed_out(self) -> None:
        self._unwatch()
        connecting = self.connecting
        if connecting is None:
            return
        self.connecting = None
        connecting.cancel()
        self.plan.service.counters.timeouts[CONNECT] += 1  # type: ignore[union-attr]
        self._retry_or_fail(
            GatewayTimeout(f"connecting to {self._target_name()} timed out"), connect=True
        )

    def _attach(self, upstream: UpstreamConnection) -> None:
        plan = self.plan
        target = self.target
        assert plan is not None and target is not None
        conn = self.conn
        self.upstream = upstream
        upstream.exchange = self
        upstream.done = False
        if conn.writing_paused:
            conn.hold_upstream(upstream)
        self.phase = SENT
        # One piece for the whole head: each piece of a write costs more than copying it.
        self.outbox.insert(0, self.line + plan.service.host_lines[target.index] + self.block)
        if not conn.feeding:
            self.flush()
        state = conn.state
        self.last_read = state.now
        if plan.total_timeout:
            self.deadline = self.started + plan.total_timeout
        self.watched = True
        state.watched.add(self)

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

    # ------------------------------------------------------------ request body

    def on_request_body(self, chunk: bytes) -> None:
        self.body_bytes += len(chunk)
        plan = self.plan
        if plan is not None and self.body_bytes > plan.max_body:
            self.conn.fail_request(self, PayloadTooLarge(f"the body exceeds {plan.max_body} bytes"))
            return
        if self.phase >= DONE:
            return
        if self.head.chunked:
            self.outbox += (b"%x\r\n" % len(chunk), chunk, _CRLF)
        else:
            self.outbox.append(chunk)
        if self.upstream is None:
            # Held until a connection is ready: stop reading once enough is held.
            self.outbox_bytes += len(chunk)
            if self.outbox_bytes > HIGH_WATER:
                self.conn.flow.pause(BUFFERED)

    def on_request_complete(self) -> None:
        self.request_done = True
        if self.head.chunked and self.phase < DONE:
            self.outbox.append(_LAST_CHUNK)
        # Waiting for the answer starts now: the read timeout counts from here.
        self.last_read = self.conn.state.now

    # ------------------------------------------------------------ response

    def on_response_head(self, status: int, fields: Headers, keep_alive: bool) -> None:
        plan = self.plan
        assert plan is not None
        if status in (502, 503) and self._may_resend() and self.retries < plan.service.retries:
            self.retries += 1
            plan.service.counters.retries += 1
            self._resend(self.target, fresh=False)
            return
        if plan.chain is not None:
            plan.chain.on_response(self.call, status, fields)  # type: ignore[arg-type]
        state = self.conn.state
        data, self.body_mode, self.keep_alive, self.until_close = reply_head(
            status,
            fields,
            self.head_only,
            self.head.version,
            self.keep_alive and self.request_done and not state.draining,
            state.date_line,
        )
        self.status = status
        self.upstream_keep_alive = keep_alive
        self.response_started = True
        self.reply.append(data)

    def on_response_body(self, chunk: bytes) -> None:
        if self.body_mode == BODY_CHUNKED:
            self.reply += (b"%x\r\n" % len(chunk), chunk, _CRLF)
        else:
            self.reply.append(chunk)

    def upstream_read_done(self) -> None:
        """After each read from the upstream: send what it produced, finish if whole."""
        reply = self.reply
        if reply:
            if self.upstream.done and self.body_mode == BODY_CHUNKED:  # type: ignore[union-attr]
                reply.append(_LAST_CHUNK)
            self.conn.transport.writelines(reply)
            self.reply = []
        elif self.upstream.done and self.body_mode == BODY_CHUNKED:  # type: ignore[union-attr]
            self.conn.transport.write(_LAST_CHUNK)
        if self.upstream.done:  # type: ignore[union-attr]
            self._finish()

    def _finish(self) -> None:
        """The response is whole: account for it, give back the connection, move on."""
        upstream = self.upstream
        plan = self.plan
        assert plan is not None and upstream is not None
        conn = self.conn
        state = conn.state
        service = plan.service
        self.upstream = None
        if self.watched:
            self.watched = False
            state.watched.discard(self)
        if self.upstream_keep_alive and self.request_done and not self.outbox and not conn.closed:
            service.pool.release(upstream, state.now)
        else:
            upstream.close()
        if not self.request_done:
            self.keep_alive = False  # the rest of the body will not be read
        latency = state.loop.time() - self.started
        plan.counters.statuses[self.status // 100] += 1
        counters = service.counters
        counters.buckets[bisect_left(LATENCY_BOUNDS, latency)] += 1
        counters.latency_sum += latency
        target = self.target
        if target is not None:
            self.target = None
            target.active -= 1
            service.active -= 1
            if service.observe is not None:
                service.observe(target, latency)
        self.phase = DONE
        self._end_call()
        if conn.flow.reasons:
            conn.flow.resume(PEER_BUSY)
        conn.exchange_finished(self)

    def upstream_lost(self, upstream: UpstreamConnection, exc: Exception | None) -> None:
        """The upstream connection closed while this exchange owned it."""
        if upstream is not self.upstream:
            return
        if self.phase == TUNNEL:
            self.upstream = None
            self.conn.close()
            self._release_target()
            self.phase = DONE
            self._end_call()
            return
        if exc is None and self.until_close and not upstream.done:
            # A body without Content-Length or chunks ends with the connection.
            upstream.done = True
            self.upstream_keep_alive = False
            self.upstream_read_done()
            return
        self.upstream = None
        reason = "closed the connection" if exc is None else f"reset the connection ({exc})"
        self.upstream_failed(UpstreamReset(f"{self._target_name()} {reason}"), reset=True)

    def upstream_failed(self, error: ProxyError, *, reset: bool = False) -> None:
        """The upstream cannot complete this exchange: retry, answer the error, or cut."""
        self._drop_upstream()
        if reset and not self.response_started:
            self._retry_or_fail(error, connect=False)
            return
        self._fail(error)

    # ------------------------------------------------------------ retries

    def _retry_or_fail(self, error: ProxyError, *, connect: bool) -> None:
        plan = self.plan
        assert plan is not None
        failed = self.target
        self._release_target()
        counters = plan.service.counters
        if connect:
            if self.retries < plan.service.retries:
                self.retries += 1
                counters.retries += 1
                self._send(failed)
                return
        elif self._may_resend():
            if self.reused and not self.fresh_retry:
                # The pooled connection was closed under us: once more, on a new one.
                counters.retries += 1
                self._send_again(None, fresh=True)
                return
            if self.retries < plan.service.retries:
                self.retries += 1
                counters.retries += 1
                self._send_again(failed, fresh=False)
                return
        self._fail(error)

    def _may_resend(self) -> bool:
        """Whether the request can be sent again whole: idempotent, no body, not answered."""
        head = self.head
        return (
            not self.response_started
            and head.method in IDEMPOTENT
            and not head.has_body
            and head.upgrade is None
        )

    def _resend(self, failed: Upstream | None, *, fresh: bool) -> None:
        self._drop_upstream()
        self._release_target()
        self._send_again(failed, fresh=fresh)

    def _send_again(self, failed: Upstream | None, *, fresh: bool) -> None:
        # Only requests without a body are sent again: the head is rebuilt on attach.
        self.fresh_retry = self.fresh_retry or fresh
        self.outbox = []
        self.sent = False
        self._send(failed)

    # ------------------------------------------------------------ upgrade tunnel

    def upstream_upgraded(self, rest: bytes) -> None:
        """The upstream answered 101: from now on bytes flow both ways untouched."""
        upstream = self.upstream
        assert upstream is not None and self.plan is not None
        conn = self.conn
        if self.head.upgrade is None:
            self.upstream_failed(BadUpstreamResponse("the upstream switched protocols unasked"))
            return
        self._unwatch()
        self.phase = TUNNEL
        self.status = 101
        self.response_started = True
        self.plan.counters.statuses[1] += 1
        conn.transport.write(tunnel_head(upstream.fields, conn.state.date_line))
        if rest:
            conn.transport.write(rest)
        upstream.tunnel = conn.transport
        conn.tunnel = upstream
        conn.upgrading = None
        if self.client_pending:
            upstream.transport.writelines(self.client_pending)
        self.client_pending = None
        conn.flow.resume(BUFFERED)

    def client_tunnel_data(self, data: bytes) -> None:
        """Bytes the client sent after its Upgrade request, before the 101."""
        if self.client_pending is None:
            self.client_pending = []
        self.client_pending.append(data)
        self.conn.flow.pause(BUFFERED)

    # ------------------------------------------------------------ deadlines

    def _watch(self) -> None:
        if not self.watched:
            self.watched = True
            self.conn.state.watched.add(self)

    def _unwatch(self) -> None:
        if self.watched:
            self.watched = False
            self.conn.state.watched.discard(self)

    def check_deadlines(self, now: float) -> None:
        """Called by the worker's tick: a connect, read or total timeout that has passed."""
        plan = self.plan
        if plan is None:
            return
        phase = self.phase
        if phase == CONNECTING:
            if now >= self.connect_by:
                self._connect_timed_out()
        elif phase == SENT:
            if self.deadline and now >= self.deadline:
                plan.service.counters.timeouts[TOTAL] += 1
                self.upstream_failed(
                    GatewayTimeout("the upstream did not answer in the total time")
                )
            elif not self.request_done and not self.response_started:
                # The client is still sending: the upstream is not late yet.
                self.last_read = now
            elif self.upstream is not None and self.upstream.reading_paused:
                # The client reads slower than the upstream sends: the upstream is not
                # late, the client is. One that takes nothing for the idle timeout is cut.
                if now - self.last_read >= self.conn.state.limits.idle_timeout:
                    self.upstream_failed(RequestTimeout("the client stopped reading"))
            elif now - self.last_read >= plan.read_timeout:
                plan.service.counters.timeouts[READ] += 1
                self.upstream_failed(GatewayTimeout("the upstream did not answer in time"))

    # ------------------------------------------------------------ other endings

    def respond_local(self, error: ProxyError) -> None:
        """Answer the client with the gateway's own error response."""
        conn = self.conn
        state = conn.state
        self._drop_upstream()
        self._release_target()
        if not self.request_id:
            self.request_id = state.next_request_id()
        close = (
            error.closes
            or not self.keep_alive
            or not self.request_done
            or state.draining
            or self.head.upgrade is not None
        )
        self.keep_alive = not close
        self.status = error.status
        self.response_started = True
        fields = list(error.headers)
        plan = self.plan
        if plan is not None and plan.chain is not None and self.call is not None:
            plan.chain.on_response(self.call, error.status, fields)
        conn.transport.write(
            error_response(
                error,
                self.request_id,
                state.date_line,
                close=close,
                head_only=self.head_only,
                fields=fields,
            )
        )
        self._account()
        self.phase = DONE
        self._end_call()
        conn.exchange_finished(self)

    def reply_local(self, reply: Reply) -> None:
        """Answer the client at the edge with a policy's bodiless reply."""
        conn = self.conn
        state = conn.state
        close = not self.keep_alive or not self.request_done or state.draining
        self.keep_alive = not close
        self.status = reply.status
        self.response_started = True
        fields = list(reply.fields)
        plan = self.plan
        if plan is not None and plan.chain is not None and self.call is not None:
            plan.chain.on_response(self.call, reply.status, fields)
        conn.transport.write(
            reply_response(reply.status, fields, self.request_id, state.date_line, close=close)
        )
        self._account()
        self.phase = DONE
        self._end_call()
        conn.exchange_finished(self)

    def _fail(self, error: ProxyError) -> None:
        if not self.response_started:
            self.respond_local(error)
            return
        # Part of the response is out: the client must not mistake it for a whole one.
        self._release_target()
        self.status = error.status
        self._account()
        self.phase = DONE
        self._end_call()
        self.keep_alive = False
        self.conn.cut()

    def abandon(self) -> None:
        """The client is gone or its request broke: let go of everything, quietly."""
        if self.phase == DONE:
            return
        self.connecting = None  # a connection still opening goes to the pool
        self._drop_upstream()
        self._release_target()
        self.phase = DONE
        self._end_call()

    def _account(self) -> None:
        plan = self.plan
        counters = self.conn.state.metrics.unrouted if plan is None else plan.counters
        counters.statuses[self.status // 100] += 1
        if plan is not None and self.started:
            plan.service.counters.observe(self.conn.state.loop.time() - self.started)

    def _drop_upstream(self) -> None:
        self._unwatch()
        upstream = self.upstream
        self.upstream = None
        if upstream is None:
            return
        if not self.sent and upstream.exchange is self and not self.response_started:
            # Nothing was written: the connection is as clean as the pool gave it.
            upstream.pool.release(upstream, self.conn.state.now)
        else:
            upstream.abort()

    def _end_call(self) -> None:
        call = self.call
        if call is not None:
            self.call = None
            call.end()

    def _release_target(self) -> None:
        target = self.target
        if target is not None:
            self.target = None
            target.active -= 1
            self.plan.service.active -= 1  # type: ignore[union-attr]

    def _target_name(self) -> str:
        target = self.target
        return "the upstream" if target is None else f"upstream {target.address}"

    def __repr__(self) -> str:
        return (
            f"<Exchange {self.head.method.decode()} {self.head.target!r}"
            f" {_PHASE_NAMES[self.phase]} status={self.status} retries={self.retries}>"
        )


def _with_query(line: bytes, method_length: int, query: bytes) -> bytes:
    """The request line `line` with its query string replaced by `query` (b"": none)."""
    start = method_length + 1
    end = len(line) - len(b" HTTP/1.1\r\n")
    path = line[start:end]
    mark = path.find(b"?")
    if mark >= 0:
        path = path[:mark]
    return line[:start] + path + (b"?" + query if query else b"") + line[end:]
