"""HTTP/1.1 messages as the proxy reads and writes them: a head in, one verdict out.

No I/O (h11's shape): a `RequestParser` per client connection and a `ResponseParser`
per upstream connection take the bytes read and hand back events — a head, a piece
of body, the end of a message — or raise the `ProxyError` to answer with. A head is
found, checked and turned into what the proxy forwards in one call: every strictness
rule of DESIGN.md's "HTTP correctness at the edge" (what llhttp refuses with its
lenient modes off, plus the gateway's own: one Host, `chunked` as the only transfer
coding, versions 1.0 and 1.1, Expect, Upgrade, field byte and count limits), the path
normalized for routing, hop-by-hop fields set aside. Bodies are framed here too:
Content-Length counted, chunks decoded strictly (the proxy re-chunks what it
forwards), so no other parser runs on the hot path.

Written once, compiled twice. This file is plain Python and is the pure-Python twin;
setup.py has Cython compile the same file into `heads_c`, typed by `heads_c.pxd`
(Cython's pure-Python mode), rather than a `.pyx` beside a hand-kept `.py`: one
source means the two cannot drift in what they decide. Only three primitives are
spelled twice, behind `cython.compiled`: cutting bytes out of the buffer, finding a
short sequence (a CRLF, the CRLFCRLF that ends a head), and finding the first byte
outside a class. The pure twin does them with `bytes` and regex methods (C speed in
CPython); the compiled twin with `memchr`/`memcmp` and C loops over the bytes' char
pointer, each range checked against the length first, because Cython calls those
methods through CPython's slow argument parsing (a `bytes.find(sub, start, end)`
costs ~1,000 instructions there).
The fuzz target (tests/data_plane/heads_fuzz.py) holds both to the same events,
verdicts and messages for the same bytes. Bounds checks stay on in the compiled
module, every cut and search checks its range, nothing is cast, and nothing releases
the GIL.

Buffering: what a read leaves unfinished (part of a head, a chunk-size line, the CRLF
after a chunk) is kept and joined with the next read. All of those are bounded by
the head byte limit, so a client trickling its head a byte at a time costs at most a
copy of that limit per read; body bytes are never held, they go out as they come.
"""

from __future__ import annotations

import re

try:
    import cython
except ImportError:  # Cython is only needed to build the compiled twin
    from data_plane import uncompiled as cython

from .errors import (
    BadRequest,
    BadUpstreamResponse,
    ExpectationFailed,
    HeadersTooLarge,
    ProxyError,
    VersionNotSupported,
)
from .responses import STATUS_LINE, status_line

if cython.compiled:
    from cython.cimports.cpython.bytes import (
        PyBytes_AS_STRING,
        PyBytes_FromStringAndSize,
        PyBytes_GET_SIZE,
    )
    from cython.cimports.libc.string import memchr, memcmp, memcpy

Headers = list[tuple[bytes, bytes]]


class EndOfMessage:
    """The event after the last body byte of a message that has a body."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "END"


END = EndOfMessage()

# ------------------------------------------------------------ byte classes

_DIGITS = b"0123456789"
_HEX = b"0123456789abcdefABCDEF"
_ALPHA = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_VCHAR = bytes(range(0x21, 0x7F))
_OBS_TEXT = bytes(range(0x80, 0x100))
# Classes of bytes, as bit flags. Each is one set of bytes, spelled twice below: a table
# the compiled twin looks bytes up in, and a regex the pure twin searches with.
_TOKEN = 1  # RFC 9110 5.6.2 tchar: methods and field names
_VALUE = 2  # a field value: HTAB, SP, VCHAR, obs-text (no control, no CR or LF)
_TARGET = 4  # a request target: VCHAR and obs-text
_PATH = 8  # a path that needs no normalizing (routing/paths.py `_PATH_BYTES`)
_DIGIT = 16
_HEXDIG = 32
_CLASSES = {
    _TOKEN: b"!#$%&'*+-.^_`|~" + _DIGITS + _ALPHA,
    _VALUE: b"\t " + _VCHAR + _OBS_TEXT,
    _TARGET: _VCHAR + _OBS_TEXT,
    _PATH: _ALPHA + _DIGITS + b"-._~!$&'()*+,=:@/",
    _DIGIT: _DIGITS,
    _HEXDIG: _HEX,
}
_CLASS_TABLE = bytes(
    sum(flag for flag, members in _CLASSES.items() if byte in members) for byte in range(256)
)
_OUTSIDE = {
    flag: re.compile(b"[^" + b"".join(b"\\x%02x" % byte for byte in members) + b"]")
    for flag, members in _CLASSES.items()
}
_CRLF = b"\r\n"
_HEAD_END = b"\r\n\r\n"
_SPACE = b" "
_COLON = b":"
_OWS = b" \t"

# llhttp's request methods; CONNECT is refused on its own, PRI is HTTP/2's preface.
_METHODS = frozenset(
    b"DELETE GET HEAD POST PUT OPTIONS TRACE COPY LOCK MKCOL MOVE PROPFIND PROPPATCH"
    b" SEARCH UNLOCK BIND REBIND UNBIND ACL REPORT MKACTIVITY CHECKOUT MERGE M-SEARCH"
    b" NOTIFY SUBSCRIBE UNSUBSCRIBE PATCH PURGE MKCALENDAR LINK UNLINK SOURCE QUERY".split()
)
_VERSION_PREFIX = b"HTTP/"

_REQUEST_ID_VALUE = re.compile(rb"[A-Za-z0-9._-]{1,128}")
# A host name, IPv4 or bracketed IPv6 literal, with an optional port: nothing that
# could smuggle a second value into X-Forwarded-Host.
_HOST_VALUE = re.compile(rb"[A-Za-z0-9._~!$&'()*+=-]+(:[0-9]*)?|\[[0-9A-Fa-f:.]+\](:[0-9]*)?")
# Content-Length and chunk sizes fit 63 bits: more digits is an attack, not a body.
_MAX_LENGTH_DIGITS = 18
_MAX_SIZE_DIGITS = 15

# ------------------------------------------------------------ primitives
# The only code spelled twice: bounds-checked C for the compiled twin, bytes and regex
# methods for the pure one. The fuzz target holds the two spellings to one behaviour.


def _cut(data: bytes, start: int, end: int) -> bytes:
    """`data[start:end]`, for 0 <= start <= end <= len(data)."""
    if start < 0 or end > len(data) or start > end:
        raise IndexError(f"bytes {start}..{end} of {len(data)}")
    if cython.compiled:
        return PyBytes_FromStringAndSize(PyBytes_AS_STRING(data) + start, end - start)
    return data[start:end]


def _find(data: bytes, sub: bytes, start: int, end: int) -> int:
    """`data.find(sub, start, end)` for a short, non-empty `sub`."""
    if cython.compiled:
        if start < 0 or end > len(data):
            raise IndexError(f"bytes {start}..{end} of {len(data)}")
        size = len(sub)
        base = PyBytes_AS_STRING(data)
        pattern = PyBytes_AS_STRING(sub)
        last = end - size  # the last index a match may start at
        i = start
        while i <= last:
            # memchr reads base[i:last + 1] and memcmp base[i:i + size]: both end by `end`.
            # The void* memchr returns points into `base`: it is the char* it was.
            hit = cython.cast(cython.p_char, memchr(base + i, pattern[0], last + 1 - i))
            if hit == cython.NULL:
                return -1
            i = hit - base
            if memcmp(hit, pattern, size) == 0:
                return i
            i += 1
        return -1
    return data.find(sub, start, end)


def _outside(data: bytes, start: int, end: int, members: int) -> int:
    """Where the first byte of data[start:end] not in class `members` is; -1: none."""
    if cython.compiled:
        if start < 0 or end > len(data):
            raise IndexError(f"bytes {start}..{end} of {len(data)}")
        base = PyBytes_AS_STRING(data)
        table = PyBytes_AS_STRING(_CLASS_TABLE)  # 256 entries: any byte indexes it
        i = start
        while i < end:
            if not table[cython.cast(cython.uchar, base[i])] & members:
                return i
            i += 1
        return -1
    found = _OUTSIDE[members].search(data, start, end)
    return -1 if found is None else found.start()


def _length_value(value: bytes) -> int:
    """The number a Content-Length value of 1 to _MAX_LENGTH_DIGITS ASCII digits says; -1
    for any other value."""
    size = len(value)
    if size == 0 or size > _MAX_LENGTH_DIGITS:
        return -1
    if cython.compiled:
        digits = PyBytes_AS_STRING(value)
        length = 0
        i = 0
        while i < size:
            digit = digits[i] - 48
            if digit < 0 or digit > 9:
                return -1
            length = length * 10 + digit  # 18 digits fit 63 bits
            i += 1
        return length
    return int(value) if value.isdigit() else -1


# ------------------------------------------------------------ what a field is to the proxy

# RFC 9110 7.6.1 connection-specific fields, plus the non-standard Proxy-Connection.
HOP_BY_HOP = frozenset(
    {b"connection", b"keep-alive", b"proxy-connection", b"te", b"trailer", b"upgrade"}
)
# Plain ints: this is read for every field.
_OTHER, _HOST, _LENGTH, _CODING, _CONNECTION, _HOP, _EXPECT, _REQUEST_ID = range(8)
_FORWARDED_FOR, _REPLACED, _VIA, _UPGRADE, _DATE, _TRACEPARENT, _TRACESTATE = range(8, 15)
_REQUEST_FIELDS: dict[bytes, int] = {
    b"host": _HOST,
    b"content-length": _LENGTH,
    b"transfer-encoding": _CODING,
    b"connection": _CONNECTION,
    b"expect": _EXPECT,
    b"x-request-id": _REQUEST_ID,
    b"x-forwarded-for": _FORWARDED_FOR,
    # Set by the gateway: the client's copies are dropped.
    b"x-forwarded-proto": _REPLACED,
    b"x-forwarded-host": _REPLACED,
    # Who is calling, as the gateway's auth says (DESIGN.md): never as the client says.
    b"x-consumer": _REPLACED,
    b"x-tenant": _REPLACED,
    b"via": _VIA,
    b"upgrade": _UPGRADE,
    # W3C trace context: the gateway's span goes between the client's and the upstream's.
    b"traceparent": _TRACEPARENT,
    b"tracestate": _TRACESTATE,
    b"keep-alive": _HOP,
    b"proxy-connection": _HOP,
    b"te": _HOP,
    b"trailer": _HOP,
}
_RESPONSE_FIELDS: dict[bytes, int] = {
    b"x-request-id": _REQUEST_ID,  # the client gets the request's id, not the upstream's
    b"content-length": _LENGTH,
    b"transfer-encoding": _CODING,
    b"connection": _CONNECTION,
    b"via": _VIA,
    b"date": _DATE,
    b"keep-alive": _HOP,
    b"proxy-connection": _HOP,
    b"te": _HOP,
    b"trailer": _HOP,
    b"upgrade": _HOP,
}
# Connection tokens that name no other field.
_CONNECTION_OPTIONS = frozenset({b"close", b"keep-alive", b"upgrade"})
# Clients and upstreams spell field names and Host values the same way message after
# message: a name already checked, with its kind, and a Host already checked skip the
# work. Bounded, since both come from outside.
_REQUEST_KINDS: dict[bytes, int] = {}
_RESPONSE_KINDS: dict[bytes, int] = {}
_VALID_HOSTS: set[bytes] = set()
_CACHE_SIZE = 1024

# Parser states
_IDLE, _LENGTH_BODY, _CHUNK_SIZE, _CHUNK_DATA, _CHUNK_END, _TRAILERS = range(6)
_UNTIL_CLOSE, _SWITCHED, _BROKEN = range(6, 9)
_STATE_NAMES = (
    "idle",
    "length-body",
    "chunk-size",
    "chunk-data",
    "chunk-end",
    "trailers",
    "until-close",
    "switched",
    "broken",
)


# ------------------------------------------------------------ heads


class RequestHead:
    """One request's head: what to route and forward, and how its body is framed."""

    __slots__ = (
        "as_received",
        "chunked",
        "content_length",
        "expect_continue",
        "forwarded_for",
        "has_body",
        "headers",
        "host",
        "keep_alive",
        "method",
        "path",
        "request_id",
        "target",
        "traceparent",
        "tracestate",
        "upgrade",
        "version",
        "via",
    )

    def __init__(self, method: bytes, target: bytes, version: bytes, keep_alive: bool) -> None:
        self.method = method
        self.target = target  # the request target as received: path and query
        self.version = version  # b"1.1" or b"1.0"
        self.keep_alive = keep_alive
        self.path = ""  # the normalized path that routing sees and that is forwarded
        self.as_received = False  # the path needed no normalizing
        # Filled from the header fields
        self.headers: Headers = []  # end-to-end fields, forwarded as received
        self.host = b""
        self.content_length = -1  # -1: no Content-Length
        self.chunked = False
        self.has_body = False
        self.expect_continue = False
        self.upgrade: bytes | None = None  # the Upgrade value of an upgrade request
        self.request_id: bytes | None = None  # a valid incoming X-Request-ID
        self.forwarded_for: bytes | None = None
        self.via: bytes | None = None
        self.traceparent: bytes | None = None  # b"": sent more than once, so invalid
        self.tracestate: bytes | None = None

    def __repr__(self) -> str:
        framing = "chunked" if self.chunked else f"length={self.content_length}"
        return (
            f"<RequestHead {self.method.decode()} {self.target!r} HTTP/{self.version.decode()}"
            f" host={self.host!r} {framing} fields={len(self.headers)}>"
        )


class ResponseHead:
    """One upstream response's head: status, every field, and the upstream's framing."""

    __slots__ = ("chunked", "content_length", "fields", "keep_alive", "status", "version")

    def __init__(self, status: int, version: bytes, fields: Headers) -> None:
        self.status = status
        self.version = version
        self.fields = fields  # all of them, as received; reply_head picks what goes on
        self.content_length = -1
        self.chunked = False
        self.keep_alive = False  # the upstream connection may serve another request

    def __repr__(self) -> str:
        framing = "chunked" if self.chunked else f"length={self.content_length}"
        return f"<ResponseHead {self.status} {framing} keep_alive={self.keep_alive}>"


# ------------------------------------------------------------ parsers


class MessageReader:
    """What both parsers share: the buffer of a connection's bytes and body framing."""

    __slots__ = (
        "_buffer",
        "_pos",
        "_remaining",
        "_scanned",
        "_state",
        "max_header_bytes",
        "max_header_count",
    )

    def __init__(self, max_header_bytes: int, max_header_count: int) -> None:
        self.max_header_bytes = max_header_bytes
        self.max_header_count = max_header_count
        self._buffer = b""
        self._pos = 0  # where the unread part of the buffer starts
        self._scanned = 0  # bytes of an incomplete head already searched for its end
        self._state = _IDLE
        # Body bytes of the current length or chunk still to come; in trailers, the
        # trailer bytes read so far.
        self._remaining = 0

    def feed(self, data: bytes) -> None:
        """Take the bytes of a read; `next_event` then returns what they complete."""
        pos = self._pos
        if pos >= len(self._buffer):
            self._buffer = data
            self._scanned = 0
        else:
            self._buffer = self._buffer[pos:] + data
            # The search for a head's end goes on where it stopped, in the new indices.
            self._scanned = max(0, self._scanned - pos)
        self._pos = 0

    @property
    def pending(self) -> int:
        """Bytes read and not taken yet: part of a head or of chunk framing."""
        return len(self._buffer) - self._pos

    def take_rest(self) -> bytes:
        """The bytes buffered beyond the message read (after an Upgrade or a 101)."""
        rest = self._buffer[self._pos :]
        self._buffer = b""
        self._pos = 0
        return rest

    def _find_head(self) -> int:
        """Where the head at `_pos` ends (after its CRLFCRLF), 0 while it is incomplete."""
        buffer = self._buffer
        start = self._pos
        end = len(buffer)
        if start >= end:
            return 0
        found = _find(buffer, _HEAD_END, max(start, self._scanned - 3), end)
        if found < 0:
            self._scanned = end
            return 0
        self._scanned = 0
        return found + 4

    def _length_body(self) -> bytes | EndOfMessage | None:
        remaining = self._remaining
        if remaining == 0:
            self._state = _IDLE
            return END
        buffer = self._buffer
        start = self._pos
        available = len(buffer) - start
        if available <= 0:
            return None
        if available <= remaining and start == 0:
            piece = buffer  # the whole read is body: no copy
            self._buffer = b""
        else:
            piece = buffer[start : start + remaining]
            self._pos = start + len(piece)
        self._remaining = remaining - len(piece)
        return piece

    def _chunk_event(self) -> bytes | EndOfMessage | None:
        """The next event of a chunked body; raises BadRequest for a malformed one."""
        buffer = self._buffer
        end = len(buffer)
        limit = self.max_header_bytes
        while True:
            start = self._pos
            state = self._state
            if state == _CHUNK_DATA:
                available = end - start
                if available <= 0:
                    return None
                remaining = self._remaining
                if available <= remaining and start == 0:
                    piece = buffer
                    self._buffer = b""
                else:
                    piece = buffer[start : start + remaining]
                    self._pos = start + len(piece)
                remaining -= len(piece)
                self._remaining = remaining
                if remaining == 0:
                    self._state = _CHUNK_END
                return piece
            if state == _CHUNK_END:
                if end - start < 2:
                    if start < end and buffer[start] != 13:
                        raise BadRequest("a chunk is longer than its size")
                    return None
                if buffer[start] != 13 or buffer[start + 1] != 10:
                    raise BadRequest("a chunk is longer than its size")
                self._pos = start + 2
                self._state = _CHUNK_SIZE
                continue
            # A chunk-size line, or a trailer line
            line_end = _find(buffer, _CRLF, start, end)
            if line_end < 0:
                if end - start > limit:
                    raise BadRequest("a chunk-size or trailer line is too long")
                if _find(buffer, b"\n", start, end) >= 0:
                    raise BadRequest("a chunk line ends without CR")
                return None
            self._pos = line_end + 2
            if _outside(buffer, start, line_end, _VALUE) >= 0:
                raise BadRequest("a chunk line holds a control byte or a bare CR or LF")
            if state == _TRAILERS:
                if line_end == start:
                    self._state = _IDLE
                    return END
                colon = _find(buffer, _COLON, start, line_end)
                if colon <= start or _outside(buffer, start, colon, _TOKEN) >= 0:
                    raise BadRequest(
                        "a malformed trailer field: "
                        + _field_line_error(_cut(buffer, start, line_end))
                    )
                # Trailer fields are read and dropped: the proxy forwards none.
                self._remaining += line_end - start + 2
                if self._remaining > limit:
                    raise BadRequest("the trailer section is too large")
                continue
            semicolon = _find(buffer, b";", start, line_end)
            digits_end = line_end if semicolon < 0 else semicolon
            if (
                digits_end == start
                or digits_end - start > _MAX_SIZE_DIGITS
                or _outside(buffer, start, digits_end, _HEXDIG) >= 0
            ):
                digits = _cut(buffer, start, min(digits_end, start + 20))
                raise BadRequest(f"a chunk size {digits!r} is not hexadecimal")
            size = int(_cut(buffer, start, digits_end), 16)
            if size == 0:
                self._state = _TRAILERS
                self._remaining = 0
                continue
            self._remaining = size
            self._state = _CHUNK_DATA


class RequestParser(MessageReader):
    """The requests of one client connection, in order: heads, body pieces, ends."""

    __slots__ = ()

    @property
    def reading_head(self) -> bool:
        """Part of a head is in: the client is sending one (the header timeout runs)."""
        return self._state == _IDLE and self._pos < len(self._buffer)

    @property
    def switched(self) -> bool:
        """An Upgrade request was read: what follows is the tunnel's, not HTTP."""
        return self._state == _SWITCHED

    def next_event(self) -> RequestHead | bytes | EndOfMessage | None:
        """The next head, piece of body or END; None until more bytes are fed.

        A head without a body has no END: the request is whole with its head.
        Raises the ProxyError to answer with; the parser is broken after it.
        """
        state = self._state
        if state == _SWITCHED:
            return None
        if state == _BROKEN:
            raise BadRequest("the connection is out of step after a malformed request")
        try:
            if state == _IDLE:
                return self._next_head()
            if state == _LENGTH_BODY:
                return self._length_body()
            return self._chunk_event()
        except ProxyError:
            self._state = _BROKEN
            raise

    def _next_head(self) -> RequestHead | None:
        buffer = self._buffer
        start = self._pos
        end = len(buffer)
        # RFC 9112 2.2: empty lines before a request line are ignored.
        while start + 1 < end and buffer[start] == 13 and buffer[start + 1] == 10:
            start += 2
        self._pos = start
        head_end = self._find_head()
        if head_end == 0:
            if start < end:
                self._incomplete_head(buffer, start, end)
            return None
        if head_end - start > self.max_header_bytes:
            raise HeadersTooLarge(f"the request head exceeds {self.max_header_bytes} bytes")
        self._pos = head_end
        head = self._parse_head(buffer, start, head_end - 4)
        if head.upgrade is not None:
            self._state = _SWITCHED
        elif head.chunked:
            self._state = _CHUNK_SIZE
        elif head.content_length > 0:
            self._state = _LENGTH_BODY
            self._remaining = head.content_length
        return head

    def _incomplete_head(self, buffer: bytes, start: int, end: int) -> None:
        """A head still arriving: refuse it once it cannot become a good one."""
        if end - start > self.max_header_bytes:
            raise HeadersTooLarge(f"the request head exceeds {self.max_header_bytes} bytes")
        line_feed = _find(buffer, b"\n", start, end)
        while line_feed >= 0:
            if line_feed == start or buffer[line_feed - 1] != 13:
                raise BadRequest("a line of the request head ends without CR")
            line_feed = _find(buffer, b"\n", line_feed + 1, end)

    def _parse_head(self, buffer: bytes, start: int, end: int) -> RequestHead:
        """The RequestHead of buffer[start:end], a whole head without its last CRLFCRLF."""
        line_end = _find(buffer, _CRLF, start, end)
        if line_end < 0:
            line_end = end
        head = _request_line(buffer, start, line_end)
        host: bytes | None = None
        codings: bytes | None = None
        connection: list[bytes] | None = None
        upgrade_value: bytes | None = None
        forward = head.headers
        kinds = _REQUEST_KINDS
        count = 0
        limit = self.max_header_count
        while line_end < end:
            start = line_end + 2
            line_end = _find(buffer, _CRLF, start, end)
            if line_end < 0:
                line_end = end
            count += 1
            if count > limit:
                raise HeadersTooLarge(f"the request has more than {limit} fields")
            colon = _find(buffer, _COLON, start, line_end)
            if colon <= start:
                raise BadRequest(_field_line_error(_cut(buffer, start, line_end)))
            name = _cut(buffer, start, colon)
            kind = kinds.get(name, -1)
            if kind < 0:
                kind = _checked_kind(name, _REQUEST_FIELDS, kinds)
            value = _field_value(buffer, colon + 1, line_end)
            if kind == _OTHER:
                forward.append((name, value))
            elif kind == _HOST:
                if host is not None:
                    raise BadRequest("the request has more than one Host header")
                host = value
            elif kind == _LENGTH:
                if head.content_length >= 0:
                    raise BadRequest("the request has more than one Content-Length")
                head.content_length = _content_length(value)
            elif kind == _CODING:
                codings = value if codings is None else codings + b"," + value
            elif kind == _CONNECTION:
                tokens = [token.strip(_OWS).lower() for token in value.split(b",")]
                connection = tokens if connection is None else connection + tokens
            elif kind == _EXPECT:
                if value.lower() != b"100-continue":
                    raise ExpectationFailed(
                        f"only Expect: 100-continue is understood, not {value!r}"
                    )
                head.expect_continue = True
            elif kind == _REQUEST_ID:
                if _REQUEST_ID_VALUE.fullmatch(value) is not None:
                    head.request_id = value
            elif kind == _FORWARDED_FOR:
                previous = head.forwarded_for
                head.forwarded_for = value if previous is None else previous + b", " + value
            elif kind == _VIA:
                via = head.via
                head.via = value if via is None else via + b", " + value
            elif kind == _UPGRADE:
                upgrade_value = value
            elif kind == _TRACEPARENT:
                head.traceparent = value if head.traceparent is None else b""
            elif kind == _TRACESTATE:
                tracestate = head.tracestate
                head.tracestate = value if tracestate is None else tracestate + b"," + value
            # Hop-by-hop and replaced fields are dropped.
        if host is None:
            if head.version == b"1.1":
                raise BadRequest("an HTTP/1.1 request needs a Host header")
        elif host in _VALID_HOSTS or _valid_host(host):
            head.host = host
        else:
            raise BadRequest("the Host header is not a host name with an optional port")
        if codings is not None:
            if head.version == b"1.0":
                # RFC 9112 6.1: Transfer-Encoding in an HTTP/1.0 message is faulty framing.
                raise BadRequest("Transfer-Encoding is not allowed in an HTTP/1.0 request")
            if codings.strip(_OWS).lower() != b"chunked":
                raise BadRequest(f"only the chunked transfer coding is accepted, not {codings!r}")
            if head.content_length >= 0:
                raise BadRequest("the request has both Content-Length and Transfer-Encoding")
            head.chunked = True
        if connection is not None:
            if head.version == b"1.1":
                head.keep_alive = b"close" not in connection
            else:
                head.keep_alive = b"keep-alive" in connection
            if upgrade_value is not None and b"upgrade" in connection:
                if head.chunked or head.content_length > 0:
                    raise BadRequest("an Upgrade request may not carry a body")
                head.upgrade = upgrade_value
            named = [token for token in connection if token not in _CONNECTION_OPTIONS]
            if named:
                # Fields named in Connection are hop-by-hop too (RFC 9110 7.6.1).
                head.headers = [(n, v) for n, v in forward if n.lower() not in named]
        head.has_body = head.chunked or head.content_length > 0
        return head

    def __repr__(self) -> str:
        return (
            f"<RequestParser {_STATE_NAMES[self._state]} pending={self.pending}"
            f" remaining={self._remaining}>"
        )


class ResponseParser(MessageReader):
    """The responses of one upstream connection, each after `start` names its request."""

    __slots__ = ("_head_request", "expecting")

    def __init__(self, max_header_bytes: int, max_header_count: int) -> None:
        MessageReader.__init__(self, max_header_bytes, max_header_count)
        self._head_request = False
        self.expecting = False  # a request was sent whose response has not ended

    def start(self, head_request: bool) -> None:
        """A request went out: its response comes next (`head_request`: it was HEAD)."""
        self._head_request = head_request
        self.expecting = True

    def feed_eof(self) -> bool:
        """The upstream closed: whether that ends the response (a close-delimited body)."""
        if self._state == _UNTIL_CLOSE:
            self._state = _IDLE
            self.expecting = False
            return True
        return False

    def next_event(self) -> ResponseHead | bytes | EndOfMessage | None:
        """The next head (1xx but 101 skipped), piece of body or END; None for more bytes.

        Raises BadUpstreamResponse for a response that cannot be forwarded.
        """
        state = self._state
        if state == _IDLE:
            if not self.expecting:
                return None
            try:
                return self._next_head()
            except ProxyError:
                self._state = _BROKEN
                raise
        if state == _UNTIL_CLOSE:
            return self._rest_of_body()
        if state == _SWITCHED:
            return None
        if state == _BROKEN:
            raise BadUpstreamResponse("the upstream connection is out of step")
        if state == _LENGTH_BODY:
            event = self._length_body()
        else:
            try:
                event = self._chunk_event()
            except ProxyError as error:
                self._state = _BROKEN
                raise BadUpstreamResponse(f"unusable upstream reply: {error.message}") from None
        if event is END:
            self.expecting = False
        return event

    def _next_head(self) -> ResponseHead | None:
        while True:
            start = self._pos
            head_end = self._find_head()
            if head_end == 0:
                if len(self._buffer) - start > self.max_header_bytes:
                    raise BadUpstreamResponse(
                        f"the upstream's response head exceeds {self.max_header_bytes} bytes"
                    )
                return None
            if head_end - start > self.max_header_bytes:
                raise BadUpstreamResponse(
                    f"the upstream's response head exceeds {self.max_header_bytes} bytes"
                )
            self._pos = head_end
            head = self._parse_head(self._buffer, start, head_end - 4)
            status = head.status
            if status == 101:
                self._state = _SWITCHED
                return head
            if status < 200:
                continue  # informational: the gateway answered any Expect itself
            if self._head_request or status == 204 or status == 304:
                self.expecting = False
                return head
            if head.chunked:
                self._state = _CHUNK_SIZE
            elif head.content_length > 0:
                self._state = _LENGTH_BODY
                self._remaining = head.content_length
            elif head.content_length == 0:
                self.expecting = False
            else:
                self._state = _UNTIL_CLOSE
                head.keep_alive = False
            return head

    def _parse_head(self, buffer: bytes, start: int, end: int) -> ResponseHead:
        line_end = _find(buffer, _CRLF, start, end)
        if line_end < 0:
            line_end = end
        head = _status_line(buffer, start, line_end)
        fields = head.fields
        kinds = _RESPONSE_KINDS
        close = False
        keep_alive = False
        codings: bytes | None = None
        count = 0
        limit = self.max_header_count
        while line_end < end:
            start = line_end + 2
            line_end = _find(buffer, _CRLF, start, end)
            if line_end < 0:
                line_end = end
            count += 1
            if count > limit:
                raise BadUpstreamResponse(f"the upstream's response has more than {limit} fields")
            colon = _find(buffer, _COLON, start, line_end)
            if colon <= start or _outside(buffer, start, colon, _TOKEN) >= 0:
                line = _cut(buffer, start, line_end)
                raise BadUpstreamResponse(f"unusable upstream reply: {_field_line_error(line)}")
            name = _cut(buffer, start, colon)
            kind = kinds.get(name, -1)
            if kind < 0:
                kind = _kind_of(name, _RESPONSE_FIELDS, kinds)
            try:
                value = _field_value(buffer, colon + 1, line_end)
            except BadRequest as error:
                raise BadUpstreamResponse(f"unusable upstream reply: {error.message}") from None
            fields.append((name, value))
            if kind == _LENGTH:
                if head.content_length >= 0:
                    raise BadUpstreamResponse("the upstream sent more than one Content-Length")
                length = _length_value(value)
                if length < 0:
                    raise BadUpstreamResponse(f"the upstream sent Content-Length {value!r}")
                head.content_length = length
            elif kind == _CODING:
                codings = value if codings is None else codings + b"," + value
            elif kind == _CONNECTION:
                if value == b"keep-alive":  # what most upstreams send: one token
                    keep_alive = True
                    continue
                for token in value.split(b","):
                    token = token.strip(_OWS).lower()
                    if token == b"close":
                        close = True
                    elif token == b"keep-alive":
                        keep_alive = True
        if codings is not None:
            if codings.lower() != b"chunked":
                raise BadUpstreamResponse(f"the upstream used the transfer coding {codings!r}")
            if head.content_length >= 0:
                raise BadUpstreamResponse(
                    "the upstream sent both Content-Length and Transfer-Encoding"
                )
            head.chunked = True
        head.keep_alive = not close if head.version == b"1.1" else keep_alive
        return head

    def _rest_of_body(self) -> bytes | None:
        buffer = self._buffer
        start = self._pos
        if start >= len(buffer):
            return None
        self._buffer = b""
        self._pos = 0
        return buffer if start == 0 else buffer[start:]

    def __repr__(self) -> str:
        return (
            f"<ResponseParser {_STATE_NAMES[self._state]} expecting={self.expecting}"
            f" pending={self.pending}>"
        )


# ------------------------------------------------------------ the pieces


def _request_line(buffer: bytes, start: int, end: int) -> RequestHead:
    """`METHOD SP target SP HTTP/x.y` in buffer[start:end], strictly; the head with its
    path normalized."""
    first = _find(buffer, _SPACE, start, end)
    second = _find(buffer, _SPACE, first + 1, end) if first > start else -1
    if second < 0 or _find(buffer, _SPACE, second + 1, end) >= 0:
        raise BadRequest("the request line is not METHOD TARGET VERSION")
    version = _cut(buffer, second + 1, end)
    if version == b"HTTP/1.1":
        keep_alive = True
    elif version == b"HTTP/1.0":
        keep_alive = False
    elif (
        len(version) == 8
        and version.startswith(_VERSION_PREFIX)
        and version[5] in _DIGITS
        and version[6] == 46
        and version[7] in _DIGITS
    ):
        raise VersionNotSupported(f"{version.decode()} is not served; use HTTP/1.1")
    else:
        raise BadRequest("the request line does not end with an HTTP version")
    method = _cut(buffer, start, first)
    if method not in _METHODS:
        if method == b"CONNECT":
            raise BadRequest("CONNECT requests are not proxied")
        raise BadRequest("the request method is not one the gateway knows")
    if second == first + 1 or _outside(buffer, first + 1, second, _TARGET) >= 0:
        raise BadRequest("the request target is empty or holds a control byte")
    target = _cut(buffer, first + 1, second)
    head = RequestHead(method, target, b"1.1" if keep_alive else b"1.0", keep_alive)
    query = _find(buffer, b"?", first + 1, second)
    path_end = second if query < 0 else query
    path_start = first + 1
    if (
        buffer[path_start] == 47  # "/"
        and _outside(buffer, path_start, path_end, _PATH) < 0
        and _find(buffer, b"//", path_start, path_end) < 0
        and _find(buffer, b"/.", path_start, path_end) < 0
    ):
        head.path = _cut(buffer, path_start, path_end).decode("ascii")
        head.as_received = True
    else:
        head.path = _normalized(_cut(buffer, path_start, path_end))
    return head


def _normalized(raw_path: bytes) -> str:
    # The one implementation of the rule, for the paths that need rewriting; imported
    # here because the routing package imports this one's.
    from data_plane.routing.paths import BadPath, normalize_path

    try:
        return normalize_path(raw_path)
    except BadPath as exc:
        raise BadRequest(str(exc)) from None


def _status_line(buffer: bytes, start: int, end: int) -> ResponseHead:
    """`HTTP/1.x SP 3DIGIT [SP reason]` in buffer[start:end], strictly."""
    if end - start < 12 or _cut(buffer, start, start + 7) != b"HTTP/1.":
        raise BadUpstreamResponse("the upstream's status line is not HTTP/1.x")
    minor = buffer[start + 7]
    if minor == 49:
        version = b"1.1"
    elif minor == 48:
        version = b"1.0"
    else:
        raise BadUpstreamResponse("the upstream's status line is not HTTP/1.0 or HTTP/1.1")
    if (
        buffer[start + 8] != 32
        or _outside(buffer, start + 9, start + 12, _DIGIT) >= 0
        or (end > start + 12 and buffer[start + 12] != 32)
    ):
        raise BadUpstreamResponse("the upstream's status code is not three digits")
    if _outside(buffer, start + 12, end, _VALUE) >= 0 or _find(buffer, b"\t", start + 12, end) >= 0:
        raise BadUpstreamResponse("the upstream's reason phrase holds a tab or a control byte")
    status = (
        (buffer[start + 9] - 48) * 100 + (buffer[start + 10] - 48) * 10 + buffer[start + 11] - 48
    )
    return ResponseHead(status, version, [])


def _checked_kind(name: bytes, known: dict[bytes, int], cache: dict[bytes, int]) -> int:
    """What the field `name` (as received) is, once it is checked to be a token."""
    if _outside(name, 0, len(name), _TOKEN) >= 0:
        raise BadRequest(_field_line_error(name))
    return _kind_of(name, known, cache)


def _kind_of(name: bytes, known: dict[bytes, int], cache: dict[bytes, int]) -> int:
    """What the field `name` (as received) is: one of the kinds, cached by the name."""
    kind = known.get(name.lower(), _OTHER)
    if len(cache) >= _CACHE_SIZE:
        cache.clear()
    cache[name] = kind
    return kind


def _field_line_error(line: bytes) -> str:
    if line[:1] in (b" ", b"\t"):
        return "a field line starts with whitespace (obs-fold)"
    if line.find(b":") < 0:
        return "a field line has no colon"
    return "a field name is empty or holds a byte a token may not (a space before the colon?)"


def _field_value(buffer: bytes, start: int, end: int) -> bytes:
    """The value of a field line from after its colon to `end`, without the OWS around it."""
    while start < end and (buffer[start] == 32 or buffer[start] == 9):
        start += 1
    while end > start and (buffer[end - 1] == 32 or buffer[end - 1] == 9):
        end -= 1
    if _outside(buffer, start, end, _VALUE) >= 0:
        raise BadRequest("a field value holds a control byte or a bare CR or LF")
    return _cut(buffer, start, end)


def _content_length(value: bytes) -> int:
    length = _length_value(value)
    if length < 0:
        raise BadRequest(f"Content-Length {value!r} is not a length")
    return length


def _valid_host(host: bytes) -> bool:
    if _HOST_VALUE.fullmatch(host) is None:
        return False
    if len(_VALID_HOSTS) >= _CACHE_SIZE:
        _VALID_HOSTS.clear()
    _VALID_HOSTS.add(host)
    return True


# ------------------------------------------------------------ the heads sent on


VIA = b"1.1 fleetgate"
_PROTO_AND_VIA = (b"X-Forwarded-Proto: http\r\nVia: ", b"X-Forwarded-Proto: https\r\nVia: ")
_CHUNKED_LINE = b"Transfer-Encoding: chunked\r\n"


def fields_block(
    head: RequestHead,
    client: bytes,
    request_id: bytes,
    traceparent: bytes = b"",
    tracestate: bytes | None = None,
    https: bool = False,
) -> bytes:
    """Every field of the upstream request after Host, through the blank line.

    `traceparent` and `tracestate` are the gateway's (tracing.py): the client's are
    never forwarded. `https`: the client came in over TLS.
    """
    parts: list[bytes] = []
    for name, value in head.headers:
        parts.append(name)
        parts.append(b": ")
        parts.append(value)
        parts.append(_CRLF)
    if head.forwarded_for is None:
        parts.append(b"X-Forwarded-For: ")
    else:
        parts.append(b"X-Forwarded-For: ")
        parts.append(head.forwarded_for)
        parts.append(b", ")
    parts.append(client)
    parts.append(b"\r\nX-Forwarded-Host: ")
    parts.append(head.host)
    parts.append(_CRLF)
    parts.append(_PROTO_AND_VIA[1 if https else 0])
    if head.via is not None:
        parts.append(head.via)
        parts.append(b", ")
    parts.append(VIA)
    parts.append(b"\r\nX-Request-ID: ")
    parts.append(request_id)
    parts.append(_CRLF)
    if traceparent:
        parts.append(b"traceparent: ")
        parts.append(traceparent)
        parts.append(_CRLF)
        if tracestate:
            parts.append(b"tracestate: ")
            parts.append(tracestate)
            parts.append(_CRLF)
    if head.chunked:
        parts.append(_CHUNKED_LINE)
    elif head.content_length >= 0:
        parts.append(b"Content-Length: %d\r\n" % head.content_length)
    if head.upgrade is not None:
        parts += (b"Connection: upgrade\r\nUpgrade: ", head.upgrade, _CRLF)
    parts.append(_CRLF)
    return _join(parts)


# How the response body goes to the client (plain ints: read for every body chunk).
BODY_NONE = 0
BODY_RAW = 1  # as received: Content-Length, or close-delimited to HTTP/1.0
BODY_CHUNKED = 2  # re-chunked

_CLOSE_LINE = b"Connection: close\r\n"
_KEEP_ALIVE_LINE = b"Connection: keep-alive\r\n"
_VIA_LINE = b"Via: " + VIA + b"\r\n"
_SWITCH_FIELDS = frozenset({b"connection", b"upgrade"})

# (head bytes, BODY_* framing of the body, whether the client connection stays open,
# whether the upstream's body ends when its connection does); a plain tuple, built
# once per response.
ReplyHead = tuple[bytes, int, bool, bool]


def reply_head(
    status: int,
    fields: Headers,
    head_request: bool,
    client_version: bytes,
    keep_alive: bool,
    date_line: bytes,
    request_id: bytes,
) -> ReplyHead:
    """The head to send the client for an upstream response; raises BadUpstreamResponse.

    The upstream's framing is read, then decided afresh for the client: a body with a
    Content-Length passes through as it is; a chunked or close-delimited body is
    re-chunked for an HTTP/1.1 client and sent close-delimited to an HTTP/1.0 one. A
    response to HEAD, a 204 and a 304 have no body (RFC 9110 6.4.1); 204 and 304 also
    lose Content-Length, as DESIGN.md asks. Hop-by-hop fields, and those the upstream
    named in Connection, stay behind; Via gains the gateway. Every response carries the
    request's `X-Request-ID` (the one the upstream was sent; an upstream's own is replaced).
    """
    if status < 200 or status > 599:
        raise BadUpstreamResponse(f"the upstream answered with status {status}")
    parts = [STATUS_LINE.get(status) or status_line(status), b"X-Request-ID: ", request_id, _CRLF]
    length: bytes | None = None
    chunked = False
    has_date = False
    via: bytes | None = None
    named: list[bytes] | None = None
    kinds = _RESPONSE_KINDS
    for name, value in fields:
        kind = kinds.get(name, -1)
        if kind < 0:
            kind = _kind_of(name, _RESPONSE_FIELDS, kinds)
        if kind in (_OTHER, _DATE):
            if kind == _DATE:
                has_date = True
            parts.append(name)
            parts.append(b": ")
            parts.append(value)
            parts.append(_CRLF)
        elif kind == _LENGTH:
            length = value
        elif kind == _CODING:
            if value.strip().lower() != b"chunked":
                raise BadUpstreamResponse(f"the upstream used the transfer coding {value!r}")
            chunked = True
        elif kind == _VIA:
            via = value if via is None else via + b", " + value
        elif kind == _CONNECTION and value.lower() not in _CONNECTION_OPTIONS:
            tokens = [t.strip().lower() for t in value.split(b",")]
            named = [t for t in tokens if t not in _CONNECTION_OPTIONS] or named
    if named is not None:
        dropped = frozenset(named)
        kept = [
            (name, value)
            for name, value in fields
            if _kind_of(name, _RESPONSE_FIELDS, kinds) in (_OTHER, _DATE)
            and name.lower() not in dropped
        ]
        parts = parts[:4]
        for name, value in kept:
            parts += (name, b": ", value, _CRLF)
    if not has_date:
        parts.append(date_line)
    if via is None:
        parts.append(_VIA_LINE)
    else:
        parts += (b"Via: ", via, b", ", VIA, _CRLF)
    until_close = False
    if status == 204 or status == 304:
        body = BODY_NONE
    elif head_request:
        body = BODY_NONE
        if length is not None:
            parts += (b"Content-Length: ", length, _CRLF)
    elif length is not None and not chunked:
        body = BODY_RAW
        parts.append(b"Content-Length: ")
        parts.append(length)
        parts.append(_CRLF)
    elif client_version == b"1.1":
        body = BODY_CHUNKED
        parts.append(_CHUNKED_LINE)
        until_close = not chunked
    else:
        # An HTTP/1.0 client knows no chunks: the body ends when the connection does.
        body = BODY_RAW
        keep_alive = False
        until_close = not chunked
    if not keep_alive:
        parts.append(_CLOSE_LINE)
    elif client_version == b"1.0":
        parts.append(_KEEP_ALIVE_LINE)
    parts.append(_CRLF)
    return _join(parts), body, keep_alive, until_close


def _join(parts: list[bytes]) -> bytes:
    """`b"".join(parts)`: in the compiled twin the parts' lengths summed and each part
    copied in C, without the buffer protocol's two calls per part."""
    if not cython.compiled:
        return b"".join(parts)
    size = 0
    for part in parts:
        if type(part) is not bytes:
            return b"".join(parts)  # a bytes subclass or another buffer: let join take it
        size += PyBytes_GET_SIZE(part)
    joined = PyBytes_FromStringAndSize(cython.NULL, size)
    out = PyBytes_AS_STRING(joined)
    for part in parts:
        size = PyBytes_GET_SIZE(part)
        memcpy(out, PyBytes_AS_STRING(part), size)
        out += size
    return joined


def tunnel_head(fields: Headers, date_line: bytes, request_id: bytes) -> bytes:
    """The 101 head for the client: the upstream's fields, Upgrade and Connection kept."""
    parts = [status_line(101), b"X-Request-ID: " + request_id + _CRLF]
    has_date = False
    for name, value in fields:
        lower = name.lower()
        if lower == b"date":
            has_date = True
        if (lower in HOP_BY_HOP and lower not in _SWITCH_FIELDS) or lower == b"x-request-id":
            continue
        parts += (name, b": ", value, _CRLF)
    if not has_date:
        parts.append(date_line)
    parts += (_VIA_LINE, _CRLF)
    return b"".join(parts)
