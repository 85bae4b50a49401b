"""A route's own rate-limit windows on the node's key table: what most limited requests run.

`RateLimitPolicy` (policy.py) is built once per route; when its route counts on the local
backend, a request whose caller's tier does not count as well is decided here: the key
the route's windows count under (its hash remembered by name or client address), one
table decision, the `RateLimit-Policy` field made once per route and the `RateLimit`
field's numbers written into the prefix made once per window, the admission counted.
The answer (`add_fields`, `too_many_requests`) is the one every local decision of the
policy gives, tier windows or not.

Cython compiles this module into `local_limit_c` (typed by `local_limit_c.pxd`) when the
package is built: a request's limit then runs as C, calling the table's compiled
one-window decision (`decisions_c`) directly and writing the field's digits itself.
`FLEETGATE_NO_EXTENSIONS=1` runs this source, which answers the same.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

try:
    import cython
except ImportError:  # Cython is only needed to build the compiled twin
    from data_plane import uncompiled as cython

from data_plane.http.errors import TooManyRequests
from data_plane.metrics import ADMITTED, LIMIT_OUTCOMES, RATE_LIMIT, REFUSED, LimitCounters

from .table import KeyTable, key_hash

if TYPE_CHECKING:
    from data_plane.policies.chain import RequestVerdict

    from .gcra import Window

    if not cython.compiled:  # compiled, local_limit_c.pxd cimports it from chain_c
        from data_plane.policies.chain import Call

if cython.compiled:
    from cython.cimports.cpython.bytes import PyBytes_AS_STRING, PyBytes_FromStringAndSize
    from cython.cimports.libc.string import memcpy

RATELIMIT = b"RateLimit"
RETRY_AFTER = b"Retry-After"
KEY_HASHES_KEPT = 4096  # key hashes a route remembers; forgotten all at once when full
_T = b";t="
# What a route's windows count under (`by`)
_BY_CONSUMER, _BY_TENANT, _BY_CLIENT, _BY_ROUTE = 0, 1, 2, 3
_BY = {"consumer": _BY_CONSUMER, "tenant": _BY_TENANT, "client_ip": _BY_CLIENT, "route": _BY_ROUTE}


class RouteKeys:
    """The hashes of the keys a route's windows count under: `prefix` then the caller's
    consumer or tenant name (by those, when it has one), else its client address, or
    nothing (by route). Remembered by name and by address, up to KEY_HASHES_KEPT each,
    so a request builds no key string."""

    __slots__ = ("_by", "_clients", "_named", "by", "prefix", "route_only")

    def __init__(self, prefix: str, by: str) -> None:
        self.prefix = prefix
        self.by = by
        self._by = _BY.get(by, _BY_CLIENT)
        self._named: dict[str, int] = {}  # consumer or tenant name -> hash
        self._clients: dict[str, int] = {}  # client address -> hash
        self.route_only = key_hash(prefix)

    def of(self, call: Call) -> int:
        """The hash of the key `call` counts under."""
        by = self._by
        if by == _BY_ROUTE:
            return self.route_only
        name = call.consumer if by == _BY_CONSUMER else call.tenant if by == _BY_TENANT else None
        if name is not None:
            key = self._named.get(name)
            if key is None:
                key = _remember(self._named, name, key_hash(f"{self.prefix}{self.by}:{name}"))
            return key
        client = call.client
        key = self._clients.get(client)
        if key is None:
            key = _remember(self._clients, client, key_hash(f"{self.prefix}client:{client}"))
        return key

    def __repr__(self) -> str:
        return f"<RouteKeys {self.prefix!r} named={len(self._named)} clients={len(self._clients)}>"


class LocalWindows:
    """`on_request` of a rate-limit policy counting its route's `windows` on `table`: a
    caller whose tier counts as well (`use_tier` and a tenant) goes to `general`."""

    __slots__ = (
        "_admitted_at",
        "_counts",
        "_decisions",
        "_one",
        "clock",
        "counters",
        "general",
        "keys",
        "policy_field",
        "rate_prefixes",
        "table",
        "ticks",
        "use_tier",
        "windows",
    )

    def __init__(
        self,
        keys: RouteKeys,
        table: KeyTable,
        clock: Callable[[], int],
        windows: tuple[Window, ...],
        ticks: int,
        counters: LimitCounters,
        *,
        policy_field: tuple[bytes, bytes],
        rate_prefixes: tuple[bytes, ...],
        use_tier: bool,
        general: Callable[[Call], RequestVerdict],
    ) -> None:
        self.keys = keys
        self.table = table
        self._decisions = table.decisions
        self.clock = clock
        self.windows = windows
        self._one = windows[0] if len(windows) == 1 else None
        self.ticks = ticks
        self.counters = counters
        self._counts = counters.counts
        self._admitted_at = RATE_LIMIT * len(LIMIT_OUTCOMES) + ADMITTED
        self.policy_field = policy_field
        self.rate_prefixes = rate_prefixes
        self.use_tier = use_tier
        self.general = general

    def on_request(self, call: Call) -> RequestVerdict:
        if self.use_tier and call.tenant:
            return self.general(call)
        key = self.keys.of(call)
        if self._one is not None:
            verdict = self._decisions.decide_one(key, self._one, self.clock())
        else:
            verdict = self.table.decide_one(key, self.windows, self.clock())
        admitted, tightest, remaining, reset, wait = verdict
        ticks = self.ticks
        add_fields(call, self.policy_field, self.rate_prefixes[tightest], remaining, reset, ticks)
        if admitted:
            self._counts[self._admitted_at] += 1
            return None
        self.counters.count(RATE_LIMIT, REFUSED)
        return too_many_requests(wait, ticks)

    def __repr__(self) -> str:
        return f"<LocalWindows {self.keys.prefix!r} windows={len(self.windows)}>"


def add_fields(
    call: Call,
    policy_field: tuple[bytes, bytes],
    rate_prefix: bytes,
    remaining: int,
    reset: int,
    ticks: int,
) -> None:
    """Add `RateLimit-Policy` and `RateLimit` to the responses of `call`: the tightest
    window (`rate_prefix`, its `"name";r=`) with `remaining` requests left, whole again in
    `reset` ticks (of `ticks` a second)."""
    fields = call.response_fields
    fields.append(policy_field)
    fields.append((RATELIMIT, rate_value(rate_prefix, remaining, seconds(reset, ticks))))


def too_many_requests(wait: int, ticks: int) -> TooManyRequests:
    """The refusal of a request that one more request is admitted `wait` ticks after."""
    return TooManyRequests(
        "too many requests: a rate limit of this route is reached",
        headers=((RETRY_AFTER, b"%d" % max(1, seconds(wait, ticks))),),
    )


def rate_value(prefix: bytes, remaining: int, reset: int) -> bytes:
    """A `RateLimit` value: `prefix` (`"name";r=`), `remaining`, `;t=`, `reset`."""
    if cython.compiled and remaining >= 0 and reset >= 0:
        size = len(prefix)
        length = size + _digits(remaining) + 3 + _digits(reset)
        value = PyBytes_FromStringAndSize(cython.NULL, length)
        out = PyBytes_AS_STRING(value)
        memcpy(out, PyBytes_AS_STRING(prefix), size)
        at = _write_digits(out, length, reset) - 3
        memcpy(out + at, PyBytes_AS_STRING(_T), 3)
        _write_digits(out, at, remaining)
        return value
    return b"%s%d;t=%d" % (prefix, remaining, reset)


def seconds(ticks: int, per_second: int) -> int:
    """`ticks` in whole seconds, rounded up."""
    return -(-ticks // per_second)


def _remember(hashes: dict[str, int], name: str, key: int) -> int:
    """Keep `key` as `name`'s hash in `hashes`, forgetting them all first when full."""
    if len(hashes) >= KEY_HASHES_KEPT:
        hashes.clear()
    hashes[name] = key
    return key


def _digits(value: int) -> int:
    """Compiled twin only: how many decimal digits `value` (>= 0) has."""
    count = 1
    while value >= 10:
        value //= 10
        count += 1
    return count


def _write_digits(out: bytes, end: int, value: int) -> int:
    """Compiled twin only: `value` (>= 0) in decimal into the new bytes `out`, ending
    before `end`; where its first digit is."""
    at = end
    while True:
        at -= 1
        out[at] = 48 + value % 10  # type: ignore[index]
        value //= 10
        if value == 0:
            return at
