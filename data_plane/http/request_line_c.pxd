cimport cython

# C types for request_line.py when Cython compiles it into request_line_c (pure-Python
# mode: the .py stays plain Python, this file only tells the compiler the types). The
# head is the compiled head path's: the two are loaded together or not at all.

from data_plane.http.heads_c cimport RequestHead

cdef dict METHOD_NAMES

@cython.locals(path=str, method=str, forwarded=str)
cpdef tuple route_request(table, RequestHead head)

@cython.locals(target=bytes, query=Py_ssize_t)
cpdef bytes request_line(RequestHead head, bytes path)
