cimport cython

# C types for decisions.py when Cython compiles it into decisions_c (pure-Python mode:
# the .py stays plain Python, this file only tells the compiler the types). The words
# are a typed view of the table's memory; bounds checks stay on (setup.py).


@cython.final
cdef class Decisions:
    cdef long long[::1] words
    cdef readonly Py_ssize_t slots, header_words, slot_words
    cdef readonly object lock, find

    @cython.locals(
        base=Py_ssize_t, at=Py_ssize_t, tat=cython.longlong, new_tat=cython.longlong,
        interval=cython.longlong, capacity=cython.longlong, ahead=cython.longlong,
        remaining=cython.longlong, wait=cython.longlong, admitted=bint,
    )
    cpdef tuple decide_one(self, long long key, window, long long now)
