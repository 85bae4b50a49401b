# C types for exchange.py when Cython compiles it into exchange_c (pure-Python mode: the
# .py stays plain Python, this file only tells the compiler the types; core.py picks the
# twin). Its client connection is a plain object here: downstream_c cimports this module.

from data_plane.http.heads_c cimport RequestHead
from data_plane.http.pool_c cimport ServicePool
from data_plane.http.state_c cimport ProxyState
from data_plane.http.upstream_c cimport UpstreamConnection


cdef class Exchange:
    cdef public object conn, plan, call, deciding, target, connecting, error, span, failed
    cdef public ProxyState state
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
