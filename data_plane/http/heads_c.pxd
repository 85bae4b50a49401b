cimport cython

# C types for heads.py when Cython compiles it into heads_c (pure-Python mode: the
# .py stays plain Python, this file only tells the compiler the types).
# Bounds checks stay on (setup.py); no attribute here is a raw pointer.

cdef int _IDLE, _LENGTH_BODY, _CHUNK_SIZE, _CHUNK_DATA, _CHUNK_END, _TRAILERS
cdef int _UNTIL_CLOSE, _SWITCHED, _BROKEN
cdef int _OTHER, _HOST, _LENGTH, _CODING, _CONNECTION, _HOP, _EXPECT, _REQUEST_ID
cdef int _FORWARDED_FOR, _REPLACED, _VIA, _UPGRADE, _DATE, _TRACEPARENT, _TRACESTATE
cdef Py_ssize_t _CACHE_SIZE, _MAX_LENGTH_DIGITS, _MAX_SIZE_DIGITS
cdef bytes _DIGITS, _HEX, _CRLF, _HEAD_END, _OWS, _SPACE, _COLON, _VERSION_PREFIX
cdef bytes _CLASS_TABLE
cdef int _TOKEN, _VALUE, _TARGET, _PATH, _DIGIT, _HEXDIG
cdef dict _OUTSIDE
cdef frozenset _METHODS, _CONNECTION_OPTIONS
cdef dict _REQUEST_FIELDS, _RESPONSE_FIELDS, _REQUEST_KINDS, _RESPONSE_KINDS
cdef set _VALID_HOSTS
cdef object _REQUEST_ID_VALUE, _HOST_VALUE


cdef class EndOfMessage:
    pass


cdef class RequestHead:
    cdef public bytes method, target, version, host, upgrade, request_id, forwarded_for, via
    cdef public bytes traceparent, tracestate
    cdef public str path
    cdef public bint keep_alive, as_received, chunked, has_body, expect_continue
    cdef public list headers
    cdef public Py_ssize_t content_length


cdef class ResponseHead:
    cdef public int status
    cdef public bytes version
    cdef public list fields
    cdef public Py_ssize_t content_length
    cdef public bint chunked, keep_alive


cdef class MessageReader:
    cdef bytes _buffer
    cdef Py_ssize_t _pos, _scanned, _remaining
    cdef int _state
    cdef public Py_ssize_t max_header_bytes, max_header_count

    @cython.locals(pos=Py_ssize_t)
    cpdef feed(self, bytes data)
    cpdef bytes take_rest(self)
    @cython.locals(start=Py_ssize_t, end=Py_ssize_t, found=Py_ssize_t)
    cdef Py_ssize_t _find_head(self) except -1
    @cython.locals(remaining=Py_ssize_t, start=Py_ssize_t, available=Py_ssize_t)
    cdef object _length_body(self)
    @cython.locals(
        end=Py_ssize_t, limit=Py_ssize_t, start=Py_ssize_t, state=int,
        available=Py_ssize_t, remaining=Py_ssize_t, line_end=Py_ssize_t,
        colon=Py_ssize_t, semicolon=Py_ssize_t, size=Py_ssize_t, digits_end=Py_ssize_t,
        buffer=bytes, piece=bytes, digits=bytes,
    )
    cdef object _chunk_event(self)


cdef class RequestParser(MessageReader):
    @cython.locals(state=int)
    cpdef object next_event(self)
    @cython.locals(start=Py_ssize_t, end=Py_ssize_t, head_end=Py_ssize_t, buffer=bytes)
    cdef RequestHead _next_head(self)
    @cython.locals(line_feed=Py_ssize_t)
    cdef _incomplete_head(self, bytes buffer, Py_ssize_t start, Py_ssize_t end)
    @cython.locals(
        head=RequestHead, line_end=Py_ssize_t, count=Py_ssize_t, limit=Py_ssize_t,
        colon=Py_ssize_t, name=bytes, value=bytes, forward=list, kinds=dict, kind=int,
        host=bytes, codings=bytes, connection=list, upgrade_value=bytes,
    )
    cdef RequestHead _parse_head(self, bytes buffer, Py_ssize_t start, Py_ssize_t end)


cdef class ResponseParser(MessageReader):
    cdef bint _head_request
    cdef public bint expecting

    cpdef start(self, bint head_request)
    cpdef bint feed_eof(self)
    @cython.locals(state=int)
    cpdef object next_event(self)
    @cython.locals(start=Py_ssize_t, head_end=Py_ssize_t, head=ResponseHead, status=int)
    cdef ResponseHead _next_head(self)
    @cython.locals(
        head=ResponseHead, line_end=Py_ssize_t, count=Py_ssize_t, limit=Py_ssize_t,
        colon=Py_ssize_t, line=bytes, name=bytes, value=bytes, fields=list, kinds=dict, kind=int,
        close=bint, keep_alive=bint, codings=bytes, length=Py_ssize_t,
    )
    cdef ResponseHead _parse_head(self, bytes buffer, Py_ssize_t start, Py_ssize_t end)
    @cython.locals(start=Py_ssize_t, buffer=bytes)
    cdef bytes _rest_of_body(self)


cdef bytes _cut(bytes data, Py_ssize_t start, Py_ssize_t end)
@cython.locals(size=Py_ssize_t, base=cython.p_char, pattern=cython.p_char, last=Py_ssize_t,
               i=Py_ssize_t, hit=cython.p_char)
cdef Py_ssize_t _find(bytes data, bytes sub, Py_ssize_t start, Py_ssize_t end) except -2
@cython.locals(base=cython.p_char, table=cython.p_char, i=Py_ssize_t)
cdef Py_ssize_t _outside(bytes data, Py_ssize_t start, Py_ssize_t end, int members) except -2
@cython.locals(size=Py_ssize_t, digits=cython.p_char, length=Py_ssize_t, i=Py_ssize_t, digit=int)
cdef Py_ssize_t _length_value(bytes value) except -2
@cython.locals(first=Py_ssize_t, second=Py_ssize_t, method=bytes, target=bytes,
               version=bytes, head=RequestHead, query=Py_ssize_t, path_end=Py_ssize_t,
               path_start=Py_ssize_t, keep_alive=bint)
cdef RequestHead _request_line(bytes buffer, Py_ssize_t start, Py_ssize_t end)
@cython.locals(minor=int, version=bytes, status=int)
cdef ResponseHead _status_line(bytes buffer, Py_ssize_t start, Py_ssize_t end)
cdef bytes _field_value(bytes buffer, Py_ssize_t start, Py_ssize_t end)
cdef Py_ssize_t _checked_kind(bytes name, dict known, dict cache) except -1
cdef Py_ssize_t _kind_of(bytes name, dict known, dict cache) except -1
cdef Py_ssize_t _content_length(bytes value) except -1


@cython.locals(size=Py_ssize_t, part=object, joined=bytes, out=cython.p_char)
cdef bytes _join(list parts)
@cython.locals(parts=list, name=bytes, value=bytes)
cpdef bytes fields_block(
    RequestHead head, bytes client, bytes request_id, bytes traceparent=*, bytes tracestate=*,
    bint https=*,
)
@cython.locals(
    parts=list, length=bytes, chunked=bint, has_date=bint, via=bytes, named=list,
    kinds=dict, name=bytes, value=bytes, until_close=bint, body=int, kind=int,
)
cpdef tuple reply_head(
    int status, list fields, bint head_request, bytes client_version, bint keep_alive,
    bytes date_line, bytes request_id,
)
