# C types for upstream.py when Cython compiles it into upstream_c (pure-Python mode: the
# .py stays plain Python, this file only tells the compiler the types; core.py picks the
# twin). Its owner is an UpstreamOwner, the base class Exchange extends; its pool is a
# plain object here: exchange_c and pool_c cimport this module.

cimport cython

from data_plane.http.heads_c cimport ResponseHead, ResponseParser
from data_plane.http.state_c cimport ProxyState


cdef class UpstreamOwner:
    cpdef on_response_head(self, int status, list fields, bint keep_alive)
    cpdef on_response_body(self, bytes chunk)
    cpdef response_read(self, bint complete)
    cpdef upstream_lost(self, exc)
    cpdef upstream_failed(self, error)
    cpdef upstream_switched(self, list fields, bytes rest)
    cpdef upstream_congested(self, bint congested)
    cpdef client_resumed(self, double now)


@cython.final
cdef class UpstreamConnection:
    cdef public object pool, transport
    cdef public UpstreamOwner owner
    cdef public Py_ssize_t target
    cdef public ProxyState state
    cdef public ResponseParser parser
    cdef public bint done, out_of_step, reading_paused
    cdef public double idle_since

    @cython.locals(owner=UpstreamOwner, parser=ResponseParser, head=ResponseHead)
    cpdef data_received(self, data)
    cpdef serve(self, UpstreamOwner owner, bint head_only)
    cpdef make_idle(self, double now)
    cpdef pause_reading(self)
    cpdef resume_reading(self)
    cpdef close(self)
    cpdef discard(self)
    cpdef abort(self)
