# C types for upstream.py when Cython compiles it into upstream_c (pure-Python mode: the
# .py stays plain Python, this file only tells the compiler the types; core.py picks the
# twin). Its owner, an Exchange, and its pool are plain objects here: exchange_c and
# pool_c cimport this module.

cimport cython

from data_plane.http.heads_c cimport ResponseHead, ResponseParser
from data_plane.http.state_c cimport ProxyState


@cython.final
cdef class UpstreamConnection:
    cdef public object pool, transport, owner
    cdef public Py_ssize_t target
    cdef public ProxyState state
    cdef public ResponseParser parser
    cdef public bint done, out_of_step, reading_paused
    cdef public double idle_since

    cpdef serve(self, owner, bint head_only)
    cpdef make_idle(self, double now)
    cpdef pause_reading(self)
    cpdef resume_reading(self)
    cpdef close(self)
    cpdef discard(self)
    cpdef abort(self)
