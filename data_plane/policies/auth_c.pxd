cimport cython

from data_plane.policies.chain_c cimport Call
from data_plane.policies.consumers_c cimport Consumer, ConsumerDirectory

# C types for auth.py when Cython compiles it into auth_c (pure-Python mode: the .py
# stays plain Python, this file only tells the compiler the types). The request's `Call`
# (chain_c), its head's fields (heads_c) and the consumer (consumers_c) are read as C
# struct members, and the policy's steps call each other in C.

cdef bytes REALM, _AUTHORIZATION, _BEARER, _BEARER_AS_SENT


@cython.final
cdef class Auth:
    cdef readonly ConsumerDirectory directory
    cdef readonly object tokens
    cdef readonly bint anonymous
    cdef readonly frozenset roles
    cdef readonly object api_key_field, api_key_query
    cdef readonly tuple challenges, token_challenges
    cdef public object on_request

    @cython.locals(headers=list, i=Py_ssize_t, value=bytes, name=bytes, token=bytes)
    cpdef object _decide_by_known_token(self, Call call)
    @cython.locals(
        field=bytes, size=Py_ssize_t, headers=list, at=Py_ssize_t, i=Py_ssize_t,
        name=bytes, key=bytes, directory=ConsumerDirectory, consumer=Consumer,
    )
    cpdef object _decide_by_header_key(self, Call call)
    @cython.locals(consumer=Consumer, presented=bint)
    cpdef object _decide(self, Call call)
    cpdef object _admit(self, Call call, Consumer consumer, frozenset roles)
    @cython.locals(consumer=Consumer)
    cpdef object _admit_token(self, Call call, verified)
    cpdef object _refuse(self, str why)
