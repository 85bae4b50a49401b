cimport cython

from data_plane.limits.decisions_c cimport Decisions
from data_plane.policies.chain_c cimport Call

# C types for local_limit.py when Cython compiles it into local_limit_c (pure-Python
# mode: the .py stays plain Python, this file only tells the compiler the types). The
# table's decisions are decisions_c's, called in C, and the request's `Call` chain_c's,
# its fields read as C struct members; the one raw pointer is into a bytes object made
# in the same call, of the length its digits were counted for.

cdef bytes _T
cdef int _BY_CONSUMER, _BY_TENANT, _BY_CLIENT, _BY_ROUTE


@cython.final
cdef class RouteKeys:
    cdef readonly str prefix, by
    cdef int _by
    cdef dict _named, _clients
    cdef readonly object route_only

    @cython.locals(by=int, name=str, client=str)
    cpdef object of(self, Call call)


@cython.final
cdef class LocalWindows:
    cdef readonly RouteKeys keys
    cdef readonly object table, clock, windows, counters, general
    cdef Decisions _decisions
    cdef object _one
    cdef list _counts
    cdef Py_ssize_t _admitted_at
    cdef readonly object ticks
    cdef readonly tuple policy_field, rate_prefixes
    cdef readonly bint use_tier

    @cython.locals(verdict=tuple)
    cpdef object on_request(self, Call call)


@cython.locals(fields=list)
cpdef void add_fields(
    Call call, tuple policy_field, bytes rate_prefix, remaining, reset, ticks
) except *
cpdef object too_many_requests(wait, ticks)
@cython.locals(size=Py_ssize_t, length=Py_ssize_t, at=Py_ssize_t, value=bytes, out=cython.p_char)
cpdef bytes rate_value(bytes prefix, long long remaining, long long reset)
cpdef object seconds(ticks, per_second)
cdef object _remember(dict hashes, str name, object key)
cdef inline Py_ssize_t _digits(unsigned long long value) noexcept
@cython.locals(at=Py_ssize_t)
cdef inline Py_ssize_t _write_digits(char *out, Py_ssize_t end, unsigned long long value) noexcept
