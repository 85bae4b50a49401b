# cython: language_level=3
"""A serialized snapshot's routes as bytes, each unchanged one as the object it was before.

A worker keys what one compile may reuse in the next by each route's serialized bytes.
Reading 10,000 of them out of a payload makes 10,000 bytes objects (about 0.2 ms), and
finding the few that changed compares each with the one before (about 0.25 ms more).
This walks the payload's top-level fields once, in C, and compares each entry of the
field in place with the entry at the same position before: an equal one is taken as
that very object, so nothing is made for it, and the comparison that follows finds it
unchanged at once (equal objects compare by identity first).

Compiled by setup.py; `runtime.py` reads the entries the usual way when this module is
not built or `FLEETGATE_NO_EXTENSIONS` is set.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from libc.string cimport memcmp


cdef inline Py_ssize_t _varint(
    const unsigned char* data, Py_ssize_t size, Py_ssize_t at, unsigned long long* value
):
    """Read a varint at `at` into `value`; the position after it, or -1 if it is cut."""
    cdef unsigned long long result = 0
    cdef int shift = 0
    cdef unsigned char byte
    while at < size and shift < 64:
        byte = data[at]
        at += 1
        result |= (<unsigned long long>(byte & 0x7F)) << shift
        if byte < 0x80:
            value[0] = result
            return at
        shift += 7
    return -1


def entries(bytes payload, int field, list before):
    """The entries of length-delimited field `field` of the message `payload`, in order,
    as bytes: where one equals `before`'s at the same position, that object; and the
    positions (among `before`'s) of those that differ. None when the payload is not a
    message read this way (a group, a cut field): read it the usual way then, which
    says what is wrong."""
    cdef const unsigned char* data = <const unsigned char*>PyBytes_AS_STRING(payload)
    cdef Py_ssize_t size = PyBytes_GET_SIZE(payload)
    cdef Py_ssize_t at = 0
    cdef Py_ssize_t known = len(before)
    cdef Py_ssize_t index = 0
    cdef unsigned long long key = 0
    cdef unsigned long long length = 0
    cdef int kind
    cdef object old
    result = []
    moved = []
    while at < size:
        at = _varint(data, size, at, &key)
        if at < 0:
            return None
        kind = key & 7
        if kind == 0:
            at = _varint(data, size, at, &length)
            if at < 0:
                return None
        elif kind == 1:
            at += 8
        elif kind == 5:
            at += 4
        elif kind == 2:
            at = _varint(data, size, at, &length)
            if at < 0 or length > <unsigned long long>(size - at):
                return None
            if <long long>(key >> 3) == field:
                if index < known:
                    old = before[index]
                    if (
                        type(old) is bytes
                        and PyBytes_GET_SIZE(old) == <Py_ssize_t>length
                        and memcmp(PyBytes_AS_STRING(old), data + at, length) == 0
                    ):
                        result.append(old)
                    else:
                        result.append(payload[at:at + <Py_ssize_t>length])
                        moved.append(index)
                else:
                    result.append(payload[at:at + <Py_ssize_t>length])
                index += 1
            at += <Py_ssize_t>length
        else:
            return None
        if at > size:
            return None
    return result, moved
