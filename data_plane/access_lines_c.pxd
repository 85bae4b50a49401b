cimport cython

# C types for access_lines.py when Cython compiles it into access_lines_c (pure-Python
# mode: the .py stays plain Python, this file only tells the compiler the types).
# Bounds checks stay on (setup.py); no attribute here is a raw pointer.

cdef bytes _LINE, _LINE_NO_UPSTREAM, _NAMES, _NO_NAMES, _TAIL, _NULL, _PLAIN_BYTES
cdef bytes _P0, _P_MS, _P_REQUEST_ID, _P_CLIENT, _P_METHOD, _P_PATH, _P_HOST, _P_NAMES
cdef bytes _P_STATUS, _P_BYTES_IN, _P_BYTES_OUT, _P_DURATION, _P_UPSTREAM, _P_TAIL, _P_END
cdef tuple _SIDES
cdef int _QUESTION
cdef long long _MAX_INT
cdef double _MAX_MS
cdef dict _STRINGS
cdef Py_ssize_t _STRINGS_SIZE, _TAILS_SIZE
cdef object _UNSAFE, _METHOD, _PATH, _HOST


cpdef bytes text(bytes value)
cpdef bytes string(value)
cpdef bytes tail(call, int side, version, error)


@cython.final
cdef class Lines:
    cdef object _second
    cdef bytes _stamp
    cdef dict _tails
    cdef bytearray _out
    cdef Py_ssize_t _used

    @cython.locals(
        plain=bint, tails=dict, names=bytes, lines=list, line_tail=bytes, stamp=bytes,
        path=bytes, method=bytes, host=bytes, data=bytes, now=double, ended=double, second=cython.longlong,
        elapsed=double,
    )
    cpdef bytes make(self, list records, double clock)
    cdef inline int _room(self, Py_ssize_t size) except -1
    @cython.locals(size=Py_ssize_t)
    cdef inline int _put(self, bytes piece) except -1
    @cython.locals(number=cython.longlong)
    cdef int _put_int(self, value, Py_ssize_t width) except -1
    # unsigned: C's division by 10 is Python's, without the sign fix-ups
    @cython.locals(digits=Py_ssize_t, scale=cython.ulonglong, i=Py_ssize_t, out=cython.p_char)
    cdef int _put_digits(self, unsigned long long number, Py_ssize_t width) except -1
    @cython.locals(magnitude=double, thousandths=double, whole=cython.longlong)
    cdef int _put_ms(self, double value) except -1
