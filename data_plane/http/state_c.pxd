# C types for state.py when Cython compiles it into state_c (pure-Python mode: the .py
# stays plain Python, this file only tells the compiler the types; core.py picks the twin).

cimport cython


cdef bytes _HEX


@cython.final
cdef class ProxyState:
    cdef public object loop, limits, metrics, config, candidate, access_log, tracing
    cdef public set connections, watched
    cdef public list _sleepers
    cdef public object _sleepers_seq, _timer
    cdef public double _timer_at, now
    cdef public bint draining
    cdef public int https_port
    cdef public bytes _prefix, date_line
    cdef public Py_ssize_t _ids

    @cython.locals(ids=cython.ulonglong, digits=Py_ssize_t, size=Py_ssize_t, line=bytes,
                   out=cython.p_char, i=Py_ssize_t)
    cpdef bytes next_request_id(self)
