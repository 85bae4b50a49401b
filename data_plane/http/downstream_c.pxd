# C types for downstream.py when Cython compiles it into downstream_c (pure-Python mode:
# the .py stays plain Python, this file only tells the compiler the types; core.py picks
# the twin).

cimport cython

from data_plane.http.exchange_c cimport ClientSide, Exchange
from data_plane.http.heads_c cimport RequestHead, RequestParser
from data_plane.http.state_c cimport ProxyState
from data_plane.http.upstream_c cimport UpstreamConnection

cdef int IDLE, HEAD, BODY


cdef class DownstreamConnection(ClientSide):
    cdef public bint eof
    cdef public RequestParser parser
    cdef public object waiting, failure
    cdef public int phase
    cdef public double since, lingering_until
    cdef public Py_ssize_t served
    cdef public Exchange current, parsing, upgrading
    cdef public UpstreamConnection paused_upstream

    cpdef hold_upstream(self, UpstreamConnection upstream)
    cdef _head_parsed(self, RequestHead head)
    @cython.locals(exchange=Exchange)
    cdef _request_complete(self)
    @cython.locals(following=Exchange)
    cpdef exchange_finished(self, Exchange exchange)
    cpdef fail_request(self, Exchange exchange, error)
    cpdef cut(self)
    cpdef close(self)
    cpdef check_timeouts(self, double now)
    @cython.locals(exchange=Exchange)
    cdef _parse_failed(self, error)
    @cython.locals(state=ProxyState)
    cdef _answer_failure(self, error)
    cpdef switched(self)
    @cython.locals(exchange=Exchange, current=Exchange)
    cdef _upgrade_parsed(self, bytes rest)
