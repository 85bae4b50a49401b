# C types for plan.py when Cython compiles it into plan_c (pure-Python mode: the .py
# stays plain Python, this file only tells the compiler the types; core.py picks the
# twin). exchange_c cimports it: a plan's and a service's fields are C struct members.

cimport cython

from data_plane.http.pool_c cimport ServicePool


@cython.final
cdef class ServiceRuntime:
    cdef public str name
    cdef public bytes definition
    cdef public object balancer, counters, retry_policy, retry_budget, hash_key, observe
    cdef public object breakers, bulkhead, tls
    cdef public ServicePool pool
    cdef public tuple host_lines, timeouts, target_counters, server_names
    cdef public Py_ssize_t max_concurrent, retry_after, active

    @cython.locals(ok=bint)
    cpdef report(self, target, int outcome, bint blame=*)
    cpdef trial(self, target)
    cpdef unavailable(self)


@cython.final
cdef class RoutePlan:
    cdef public str name
    cdef public ServiceRuntime service
    cdef public object counters, chain, priorities
    cdef public Py_ssize_t max_body
    cdef public double connect_timeout, read_timeout, total_timeout, per_try_timeout
    cdef public bint https_only
