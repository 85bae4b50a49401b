cimport cython

# C types for lookup.py when Cython compiles it into lookup_c (pure-Python mode: the
# .py stays plain Python, this file only tells the compiler the types). The table's
# buckets, nodes and entries stay Python objects; what is typed is the walk itself.

cdef object _NO_HEADERS, _new_match

@cython.locals(best=object, found=object, fixed=object, hosts=object, buckets=tuple,
               selected=dict)
cpdef object match(table, str method, str host, str path, headers=*)

@cython.locals(best=object, best_rank=cython.longlong, rank=cython.longlong, entries=list,
               refused=list, verdict=int)
cpdef tuple find(tuple buckets, str method, str path, object headers)

@cython.locals(found=list, exact=object, node=object, length=Py_ssize_t, at=Py_ssize_t,
               end=Py_ssize_t, branches=list, segment=str, star=object, child=object,
               exacts=dict, children=dict)
cdef list _candidates(object bucket, str path)

cdef int _UNFIT, _WRONG_METHOD, _FITS

@cython.locals(conditions=tuple)
cdef inline int _admission(object entry, str method, object headers) except -1

cdef list _with(list refused, object entry)
