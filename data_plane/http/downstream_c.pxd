# C types for downstream.py when Cython compiles it into downstream_c (pure-Python mode:
# the .py stays plain Python, this file only tells the compiler the types; core.py picks
# the twin).

from data_plane.http.exchange_c cimport Exchange
from data_plane.http.heads_c cimport RequestHead, RequestParser
from data_plane.http.state_c cimport ProxyState
from data_plane.http.upstream_c cimport UpstreamConnection


cdef class DownstreamConnection:
    cdef public ProxyState state
    cdef public bint https, closed, eof, writing_paused, feeding
    cdef public RequestParser parser
    cdef public object transport, flow, waiting, failure
    cdef public str client
    cdef public bytes client_bytes
    cdef public int phase
    cdef public double since, lingering_until
    cdef public Py_ssize_t served
    cdef public Exchange current, parsing, upgrading
    cdef public UpstreamConnection paused_upstream
