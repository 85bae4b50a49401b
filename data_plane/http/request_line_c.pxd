cimport cython

# C types for request_line.py when Cython compiles it into request_line_c (pure-Python
# mode: the .py stays plain Python, this file only tells the compiler the types). The
# head is the compiled head path's, the route lookup the compiled one: the three are
# loaded together or not at all. The raw pointer is into the bytes object `_line` makes.

from data_plane.http.heads_c cimport RequestHead
from data_plane.routing.lookup_c cimport match as table_match

cdef dict METHOD_NAMES

@cython.locals(path=str, method=str, forwarded=str)
cpdef tuple route_request(table, RequestHead head)

@cython.locals(target=bytes, query=Py_ssize_t)
cpdef bytes request_line(RequestHead head, bytes path)

cdef bytes _VERSION
@cython.locals(size=Py_ssize_t, line=bytes, out=cython.p_char)
cdef bytes _line(bytes method, bytes path, bytes query)
