cimport cython

# C types for trace_context.py when Cython compiles it into trace_context_c (pure-Python
# mode: the .py stays plain Python, this file only tells the compiler the types). The
# raw pointers are into a bytes object made in the same call, of a fixed length, and
# into the block of random bytes, 8 bytes before its end at most.

cdef object _TRACEPARENT
cdef bytes _NO_TRACE, _NO_SPAN, _NEW_TRACE, _HEX
cdef Py_ssize_t MAX_TRACESTATE, _LENGTH, _SPAN_AT
cdef object _LOW_64
cdef Py_ssize_t _RANDOM_BLOCK, _drawn
cdef bytes _random

cpdef tuple parse_traceparent(value)
cpdef bint valid(bytes traceparent) except -1
@cython.locals(zeros=bint, i=Py_ssize_t, byte=cython.uchar)
cdef inline bint _hex_digits(bytes data, Py_ssize_t start, Py_ssize_t end) except -1
cpdef _forget_random()
cdef unsigned long long _random64() except? 0
@cython.locals(span_id=cython.ulonglong, trace_id=object, high=cython.ulonglong, low=cython.ulonglong)
cpdef void start(exchange) except *
@cython.locals(line=bytes, out=cython.p_char)
cpdef bytes new_trace(unsigned long long high, unsigned long long low, unsigned long long span_id)
@cython.locals(line=bytes)
cpdef bytes with_span(bytes traceparent, unsigned long long span_id)
@cython.locals(i=Py_ssize_t)
cdef inline void _write_hex(char *out, Py_ssize_t at, unsigned long long value) noexcept
