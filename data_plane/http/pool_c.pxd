# C types for pool.py when Cython compiles it into pool_c (pure-Python mode: the .py
# stays plain Python, this file only tells the compiler the types; core.py picks the twin).

cimport cython

from data_plane.http.upstream_c cimport UpstreamConnection


@cython.final
cdef class ServicePool:
    cdef public list _idle
    cdef public object counters
    cdef public tuple targets
    cdef public Py_ssize_t max_idle
    cdef public double idle_timeout
    cdef public bint retired

    @cython.locals(stack=list, connection=UpstreamConnection)
    cpdef UpstreamConnection acquire(self, Py_ssize_t target)
    @cython.locals(stack=list)
    cpdef release(self, UpstreamConnection connection, double now)
    @cython.locals(stack=list)
    cpdef forget(self, UpstreamConnection connection)
    cpdef sweep(self, double now)
    cpdef retire(self)
