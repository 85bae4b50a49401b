cimport cython

# C types for consumers.py when Cython compiles it into consumers_c (pure-Python mode:
# the .py stays plain Python, this file only tells the compiler the types). The auth
# policy (auth_c) cimports both classes: a repeat key's consumer is a dict lookup and
# its fields struct reads.


@cython.final
cdef class Consumer:
    cdef readonly str name
    cdef readonly object tenant, tier
    cdef readonly frozenset roles
    cdef readonly tuple fields


@cython.final
cdef class ConsumerDirectory:
    cdef readonly dict by_key, by_subject, known

    cpdef Consumer by_api_key(self, bytes key)
