# C types for chain.py when Cython compiles it into chain_c (pure-Python mode: the .py
# stays plain Python, this file only tells the compiler the types). `Call` is made
# once per request of a route with policies: as an extension type its fields are
# struct members, and making one is an allocation, not a dict of slots to fill.

cdef class Call:
    cdef public object head, peer, client, query, consumer, tenant, tier, roles
    cdef public object response_fields, _releases
    cdef public bint query_changed
