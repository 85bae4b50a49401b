# C types for exchange.py when Cython compiles it into exchange_c (pure-Python mode: the
# .py stays plain Python, this file only tells the compiler the types; core.py picks the
# twin). Its client connection is a ClientSide, the base class DownstreamConnection
# extends: downstream_c cimports this module.

cimport cython

from data_plane.http.heads_c cimport RequestHead, fields_block, reply_head
from data_plane.http.pool_c cimport ServicePool
from data_plane.http.request_line_c cimport route_request
from data_plane.http.state_c cimport ProxyState
from data_plane.http.upstream_c cimport UpstreamConnection, UpstreamOwner
from data_plane.plan_c cimport RoutePlan, ServiceRuntime

cdef bytes _LAST_CHUNK, _CRLF
cdef int _CLIENT_BUSY
cdef tuple _PHASES
cdef int PENDING, ROUTING, WAITING, CONNECTING, PROXYING, BACKOFF, TUNNEL, DONE
cdef int ACTIVE, CANDIDATE
cdef tuple LATENCY_BOUNDS


cdef double _clock()
@cython.locals(i=Py_ssize_t, bound=double)
cdef Py_ssize_t _bucket(double latency)


cdef class Exchange


cdef class ClientSide:
    cdef public ProxyState state
    cdef public object transport, flow
    cdef public bint https, closed, feeding, writing_paused
    cdef public str client
    cdef public bytes client_bytes

    cpdef exchange_finished(self, Exchange exchange)
    cpdef hold_upstream(self, UpstreamConnection upstream)
    cpdef fail_request(self, Exchange exchange, error)
    cpdef cut(self)
    cpdef switched(self)


cdef class Exchange(UpstreamOwner):
    cdef public ClientSide conn
    cdef public object call, deciding, target, connecting, error, span, failed
    cdef public ProxyState state
    cdef public RoutePlan plan
    cdef public RequestHead head
    cdef public UpstreamConnection upstream
    cdef public int phase, side, status, body_mode, retries
    cdef public bint head_only, request_done, sent, until_close, keep_alive
    cdef public bint upstream_keep_alive, response_started, watched, reused, fresh_retried
    cdef public bytes request_id, line, block, traceparent, tracestate
    cdef public double started, began, try_began, upstream_time
    cdef public double connect_by, try_by, deadline, last_read
    cdef public list outbox, held, client_pending, reply
    cdef public Py_ssize_t outbox_bytes, body_bytes, bytes_out

    @cython.locals(state=ProxyState, head=RequestHead, plan=RoutePlan)
    cpdef start(self)
    @cython.locals(head=RequestHead, plan=RoutePlan, service=ServiceRuntime)
    cdef _forward(self)
    @cython.locals(
        pool=ServicePool, state=ProxyState, upstream=UpstreamConnection, plan=RoutePlan,
        service=ServiceRuntime,
    )
    cdef _try(self)
    @cython.locals(plan=RoutePlan, service=ServiceRuntime)
    cdef _connect(self, ServicePool pool, target, ProxyState state)
    @cython.locals(plan=RoutePlan)
    cdef _attach(self, UpstreamConnection upstream)
    @cython.locals(outbox=list, upstream=UpstreamConnection)
    cpdef flush(self)
    cpdef upstream_congested(self, bint congested)
    cpdef client_resumed(self, double now)
    @cython.locals(held=list, pieces=tuple, plan=RoutePlan)
    cpdef on_request_body(self, bytes chunk)
    cpdef on_request_complete(self)
    @cython.locals(state=ProxyState, plan=RoutePlan)
    cpdef on_response_head(self, int status, list fields, bint keep_alive)
    cpdef on_response_body(self, bytes chunk)
    @cython.locals(reply=list)
    cpdef response_read(self, bint complete)
    cpdef upstream_lost(self, exc)
    cpdef upstream_failed(self, error)
    cdef _failed(self, int failure, error)
    @cython.locals(
        head=RequestHead, action=int, upstream=UpstreamConnection, plan=RoutePlan,
        service=ServiceRuntime,
    )
    cdef bint _retry(self, int failure) except -1
    cpdef wake(self)
    cpdef upstream_switched(self, list fields, bytes rest)
    cpdef client_tunnel_data(self, bytes data)
    @cython.locals(phase=int, plan=RoutePlan)
    cpdef check_deadlines(self, double now)
    @cython.locals(state=ProxyState, close=bint, closes=bint, plan=RoutePlan)
    cpdef answer(self, verdict)
    cdef _fail(self, error)
    cpdef abandon(self)
    @cython.locals(
        state=ProxyState, upstream=UpstreamConnection, pool=ServicePool, latency=double,
        clean=bint, ok=bint, status=int, plan=RoutePlan, service=ServiceRuntime,
    )
    cdef _end(self, bint account, bint complete=*, bint notify=*)
    cdef _unwatch(self)
    cdef _drop_connect(self)
    @cython.locals(service=ServiceRuntime)
    cdef _leave_target(self)
    cdef str _target_name(self)
