"""The route table: compiled once per snapshot, asked once per request.

Compiling expands every route into one entry per (host, path pattern) and gives each
entry a rank, its place in one total order of specificity. When several entries match
a request, the highest rank wins. The order, most significant first:

1. higher `priority`;
2. host: an exact host, then a longer wildcard suffix, then a shorter one, then
   routes without hosts;
3. path: an exact path, then wildcard patterns (more literal segments, then a longer
   literal head, then `*` over `**`, so `/api/*` beats `/api/**` and `/**` comes
   last), then `~regex` paths;
4. routes with header conditions over routes without;
5. routes naming methods over routes admitting any method;
6. the route whose name sorts first, so that no tie depends on input order.

Lookup touches only what can match: the request's Host selects buckets (see
`hosts.py`); in each bucket an exact-path dict, then a segment trie holding the
wildcard patterns, then the regexes in rank order, stopping as soon as nothing left
can outrank the best match so far. Exact and wildcard routes that cannot match the
request cost nothing; regexes are tried one by one, so they are the tool of last resort.

A request whose host, path and headers fit some routes that all refuse its method
gets `MethodNotAllowed` with the `Allow` value (the proxy answers 405); no fit at all
is `None` (404). `methods: [GET]` also admits HEAD.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Collection, Iterator, KeysView, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from data_plane.config.errors import ConfigError, ConfigInvalid
from data_plane.config.route_fields import AnyRoute, RouteFields, fields_of, message_of
from data_plane.extensions import load

from .forwarding import KEEP, Forward, ForwardKind, compile_forward
from .headers import HeaderCondition, compile_header_match
from .hosts import ANY_HOST, HostIndex, HostPattern, compile_host
from .matches import MethodNotAllowed, RouteMatch
from .patterns import SPECIFICITY_BITS, PathPattern, PatternKind, compile_pattern

if TYPE_CHECKING:
    from .lookup import match as _match
else:  # the request-time walk, compiled (lookup_c) unless FLEETGATE_NO_EXTENSIONS=1
    _match = load("data_plane.routing.lookup").match

R = TypeVar("R")

# Enum members as module globals: each read of one as a class attribute is a lookup
# through the enum's metaclass, some 60 ns, and a full compile makes 50,000.
_EXACT, _REGEX, _KEEP_PATH = PatternKind.EXACT, PatternKind.REGEX, ForwardKind.KEEP
_new = object.__new__


@dataclass(slots=True)
class _Entry(Generic[R]):
    """One (route, host, path pattern) of the table."""

    rank: int
    key: int  # the specificity key the rank orders by, without the name (see `_Parts`)
    name: str
    payload: R
    methods: frozenset[str] | None  # None: any method
    conditions: tuple[HeaderCondition, ...]
    pattern: PathPattern
    forward: Forward
    keeps_path: bool  # the forwarded path is the matched one
    # Exact patterns always forward the same path: their answer is built once.
    fixed: RouteMatch[R] | None
    definition: bytes  # its route's key (see `RouteTable.compile`)


class _Node(Generic[R]):
    """A node of the wildcard trie, one level per path segment."""

    __slots__ = ("children", "end", "rest", "star")

    def __init__(self) -> None:
        self.children: dict[str, _Node[R]] = {}
        self.star: _Node[R] | None = None  # a "*" segment
        self.rest: list[_Entry[R]] = []  # patterns ending in "**" here
        self.end: list[_Entry[R]] = []  # patterns with a "*" that end here


class _Bucket(Generic[R]):
    """The entries under one route host, indexed by path."""

    __slots__ = ("exact", "regexes", "top_rank", "trie")

    def __init__(self) -> None:
        self.exact: dict[str, list[_Entry[R]]] = {}
        self.trie: _Node[R] | None = None
        self.regexes: list[_Entry[R]] = []
        self.top_rank = -1

    def add(self, entry: _Entry[R]) -> None:
        if entry.rank > self.top_rank:
            self.top_rank = entry.rank
        pattern = entry.pattern
        if pattern.kind is _EXACT:
            self.exact.setdefault(pattern.source, []).append(entry)
            return
        if pattern.kind is _REGEX:
            self.regexes.append(entry)
            return
        if self.trie is None:
            self.trie = _Node()
        node = self.trie
        for segment in pattern.segments:
            if segment == "**":
                node.rest.append(entry)
                return
            if segment == "*":
                if node.star is None:
                    node.star = _Node()
                node = node.star
            else:
                # (not setdefault, which would build a node to throw away at every level)
                child = node.children.get(segment)
                if child is None:
                    child = node.children[segment] = _Node()
                node = child
        node.end.append(entry)

    def dismantle(self, pieces: int) -> Iterator[None]:
        """Empty the bucket, yielding after every `pieces` entry lists dropped."""
        dropped = 0
        exact = self.exact
        while exact:
            exact.popitem()
            dropped += 1
            if dropped % pieces == 0:
                yield
        regexes = self.regexes
        while regexes:
            regexes.pop()
            dropped += 1
            if dropped % pieces == 0:
                yield
        stack = [self.trie] if self.trie is not None else []
        self.trie = None
        while stack:
            node = stack[-1]
            if node.children:
                stack.append(node.children.popitem()[1])
            elif node.star is not None:
                stack.append(node.star)
                node.star = None
            else:
                stack.pop()
                node.rest.clear()
                node.end.clear()
                dropped += 1
                if dropped % pieces == 0:
                    yield


def _by_rank(entry: _Entry[R]) -> int:
    return entry.rank


# Ranks are spaced out, so that an incremental compile can give a new entry a rank
# between two others without renumbering them; when a gap is used up, the table is
# compiled in full again, which spaces them anew.
RANK_SPACING = 1 << 24
# An incremental compile handles at most this many changed routes, or this share of
# the table (whichever is more); beyond, a full compile is as quick.
INCREMENTAL_ROUTES = 64
INCREMENTAL_SHARE = 16


class RouteTable(Generic[R]):
    """Every route of a snapshot, compiled for lookup; immutable once built."""

    __slots__ = (
        "_conditioned",
        "_entries",
        "_hosts",
        "_lineage",
        "_parts",
        "_patterns",
        "_ranked",
        "needs_headers",
        "routes",
    )

    def __init__(
        self,
        hosts: HostIndex[_Bucket[R]],
        routes: int,
        needs_headers: bool,
        parts: dict[bytes, _Parts] | None = None,
    ) -> None:
        self._hosts = hosts
        self.routes = routes
        self.needs_headers = needs_headers  # True only when some route matches on headers
        self._parts: dict[bytes, _Parts] = {} if parts is None else parts  # by route bytes
        self._patterns: dict[PatternKey, Compiled] = {}  # see `Patterns`
        # By route bytes, each route's entries (for the next compile to keep or drop)
        self._entries: dict[bytes, tuple[_Entry[R], ...]] = {}
        self._ranked: list[_Entry[R]] = []  # every entry, by rank, lowest first
        self._conditioned = 0  # entries with header conditions
        # Tables of one lineage (a full compile and the incremental ones that followed)
        # may share containers; tables of two lineages share none.
        self._lineage = object()

    @classmethod
    def compile(
        cls,
        routes: Sequence[tuple[AnyRoute, R]],
        previous: RouteTable[Any] | None = None,
        *,
        definitions: Sequence[bytes] | None = None,
        update: bool = True,
    ) -> RouteTable[R]:
        """The table of `routes`, each with the payload a match returns.

        A route that `previous` (the table this one replaces) compiled from the same
        definition reuses its compiled hosts, paths and header conditions. When only a
        few routes changed (added, removed, redefined, or given another payload), the
        table is `previous` with those routes' entries taken out and put in: the
        buckets, trie nodes and entry lists they touch are copied, everything else is
        shared with `previous`, which stays as it was. Either way the result ranks and
        answers as a compile without `previous` does.

        `definitions`: the routes' keys when the caller has them already, each the
        deterministic serialization of the route or of the one it was derived from
        (the same for every compile that shares parts).

        `update`: False when the caller knows that no route is kept (the table is then
        compiled in full at once, reusing only `previous`'s compiled paths).

        Raises ConfigInvalid naming every route field that cannot be compiled.
        """
        if definitions is None:
            definitions = [
                message_of(route).SerializeToString(deterministic=True) for route, _ in routes
            ]
        if update and previous is not None and previous._ranked:
            table: RouteTable[R] | None = _update(previous, routes, definitions)
            if table is not None:
                return table
        return cls._compile_all(routes, definitions, previous)

    def updated(
        self,
        removed: Collection[bytes],
        added: Sequence[tuple[AnyRoute, R, bytes]],
        routes: int,
    ) -> RouteTable[R] | None:
        """This table with the routes of the `removed` definitions taken out and the
        `added` routes (route, payload, definition) put in, `routes` in all; or None
        when a full compile is due (too many changes, no rank left between two entries,
        or definitions that do not add up). A route given another payload is in both.

        For a caller that knows what changed without looking at every route; `compile`
        with `previous` comes to the same. Raises ConfigInvalid as `compile` does.
        """
        if not self._ranked:
            return None
        return _updated(self, removed, added, routes)

    @classmethod
    def _compile_all(
        cls,
        routes: Sequence[tuple[AnyRoute, R]],
        definitions: Sequence[bytes],
        previous: RouteTable[Any] | None,
    ) -> RouteTable[R]:
        errors: list[ConfigError] = []
        built: list[tuple[_Parts, tuple[_Entry[R], ...]]] = []
        known = {} if previous is None else previous._parts
        patterns = Patterns(None if previous is None else previous._patterns)
        used = patterns.used
        parts_of: dict[bytes, _Parts] = {}
        entries_of: dict[bytes, tuple[_Entry[R], ...]] = {}
        for (route, payload), definition in zip(routes, definitions, strict=True):
            parts = known.get(definition)
            if parts is None:
                parts = _compile_parts(route, errors, patterns)
                if parts is None:
                    continue
            else:
                used.update(parts.paths)
            parts_of[definition] = parts
            entries = entries_of[definition] = _expand(payload, parts, definition)
            built.append((parts, entries))
        if errors:
            raise ConfigInvalid(list(dict.fromkeys(errors)))
        # Each entry's key with its name's place folded in (a name sorting first ranks
        # higher), and the entry with its host, in the same order.
        count = len(routes)
        order = {name: i for i, name in enumerate(sorted([parts.name for parts, _ in built]))}
        keys: list[int] = []
        placed: list[tuple[HostPattern, _Entry[R]]] = []
        for parts, entries in built:
            later = order[parts.name]  # < count: apart from every other key's multiple
            for entry, place in zip(entries, parts.places, strict=True):
                keys.append(entry.key * count - later)
                placed.append((place[1], entry))
        # Integers compared in C; stable, so a route's own places keep their order.
        ranking = sorted(range(len(keys)), key=keys.__getitem__)
        index: HostIndex[_Bucket[R]] = HostIndex()
        # Placed best first, so that every entry list is in rank order, best first, as
        # built: lookups stop early (see `lookup.py`).
        rank = len(ranking) * RANK_SPACING
        conditioned = 0
        # (Most entries in a row have the same host object, ANY_HOST when routes name
        # none: its bucket is looked up again only when the host changes.)
        last: HostPattern | None = None
        bucket: _Bucket[R] | None = None
        for i in reversed(ranking):
            host, entry = placed[i]
            entry.rank = rank
            rank -= RANK_SPACING
            if host is not last or bucket is None:
                bucket = index.bucket(host, _Bucket)
                last = host
            bucket.add(entry)
            if entry.conditions:
                conditioned += 1
        table = cls(index, count, conditioned > 0, parts_of)
        table._patterns = used
        table._conditioned = conditioned
        table._entries = entries_of if len(entries_of) == count else {}
        table._ranked = [placed[i][1] for i in ranking] if table._entries else []
        return table

    def definitions(self) -> KeysView[bytes]:
        """The keys of the routes compiled (see `compile`), as the very objects the table
        holds, for what else keys routes by them to share."""
        return self._entries.keys()

    if TYPE_CHECKING:

        def match(
            self, method: str, host: str, path: str, headers: Mapping[str, str] | None = None
        ) -> RouteMatch[R] | MethodNotAllowed | None:
            """The route for a request, `MethodNotAllowed` (405) or None (404).

            `host` is the Host header as received, `path` the normalized path, `headers`
            the request headers by lower-case name (needed only when `needs_headers`).
            A regex rewrite that yields an unservable path raises BadPath (400).
            """
    else:
        match = _match  # lookup.py's: a method of the table, compiled or not

    def dismantle(
        self, pieces: int = 200, keep: Sequence[RouteTable[Any] | None] = ()
    ) -> Iterator[None]:
        """Drop the table's contents a few at a time, yielding between pieces.

        Freeing a table of 10,000 routes at once takes tens of milliseconds of one
        uninterrupted deallocation; a worker that runs this generator a step per loop
        turn frees it without holding up the requests in between. Only the table's own
        containers are emptied: route payloads that exchanges in flight still hold, and
        anything a newer table shares, live on. The table matches nothing afterwards.

        A table of the lineage of one in `keep` (compiled from it incrementally, or it
        from this one) shares its buckets with it, which are left alone; only its own
        key maps and rank list are let go, one per step (each holds every route: at
        10,000 routes, freeing one visits 10,000 entries, some tenths of a millisecond).
        """
        if any(other is not None and other._lineage is self._lineage for other in keep):
            self._parts = {}
            yield
            self._patterns = {}
            yield
            self._entries = {}
            yield
            self._ranked = []
            return
        hosts, self._hosts = self._hosts, HostIndex()
        for bucket in hosts.buckets():
            yield from bucket.dismantle(pieces)
        for own in (self._parts, self._entries, self._patterns):
            while own:
                own.popitem()
                if len(own) % pieces == 0:
                    yield
        ranked = self._ranked
        while ranked:
            del ranked[-pieces:]
            yield

    def __repr__(self) -> str:
        buckets = self._hosts.buckets()
        regexes = sum(len(b.regexes) for b in buckets)
        return (
            f"<RouteTable routes={self.routes} hosts={len(buckets)} regexes={regexes}"
            f" needs_headers={self.needs_headers}>"
        )


@dataclass(slots=True, eq=False)  # not frozen: a frozen dataclass is built 5x slower
class _Parts:
    """What a route compiles to before it has a place in a table: a function of the
    route alone, so a table reuses its predecessor's for every unchanged route."""

    name: str  # the route's (read once: each read of a protobuf field makes a new str)
    conditions: tuple[HeaderCondition, ...]
    methods: frozenset[str] | None  # None: any method
    # One per host and path: the specificity key (without the name's place), the host,
    # the path pattern and how the path is forwarded. The key packs, most significant
    # first, the priority, the host's kind and length, the path's specificity (see
    # `PathPattern`), header conditions and named methods into one integer: built and
    # compared in C, where a tuple of ten was built, unpacked and compared field by field.
    places: tuple[tuple[int, HostPattern, PathPattern, Forward], ...]
    paths: tuple[tuple[PatternKey, Compiled], ...]  # each path compiled, by its key


# A path as a route compiles it: its pattern and how it is forwarded, by the path and
# the route's strip_prefix and rewrite (see `Patterns`).
PatternKey = tuple[str, bool, str]
Compiled = tuple[PathPattern, Forward]


class Patterns:
    """The compiled paths of a table, by their text and the route's forwarding settings,
    for the next compile to reuse: path patterns (RE2 regexes among them) are a function
    of their text alone, and most paths outlive the routes that name them (a route whose
    service, methods or policies change keeps its paths). A compile reads the previous
    table's and records the ones it uses, so the cache holds one table's paths at most."""

    __slots__ = ("known", "used")

    def __init__(self, known: dict[PatternKey, Compiled] | None = None) -> None:
        self.known: dict[PatternKey, Compiled] = {} if known is None else known
        self.used: dict[PatternKey, Compiled] = {}


def _compile_parts(
    unread: AnyRoute, errors: list[ConfigError], patterns: Patterns
) -> _Parts | None:
    """The compiled hosts, header conditions, methods and paths of a route, or None
    after adding its errors to `errors`. `patterns`: paths compiled before, by text (the
    paths compiled or found are recorded in its `used`)."""
    route = fields_of(unread)
    found = len(errors)
    hosts: list[HostPattern] = []
    if route.hosts:
        for i, source in enumerate(route.hosts):
            host = compile_host(source, f"routes.{route.name}.hosts.{i}")
            if isinstance(host, ConfigError):
                errors.append(host)
            else:
                hosts.append(host)
    conditions: list[HeaderCondition] = []
    if route.headers:
        for i, header in enumerate(route.headers):
            condition = compile_header_match(header, f"routes.{route.name}.headers.{i}")
            if isinstance(condition, ConfigError):
                errors.append(condition)
            else:
                conditions.append(condition)
    methods: frozenset[str] | None = None
    if route.methods:
        named = {m.upper() for m in route.methods}
        methods = frozenset(named | {"HEAD"} if "GET" in named else named)
    paths = route.paths
    if not paths:
        errors.append(ConfigError(f"routes.{route.name}.paths", "a route needs at least one path"))
    strip_prefix, rewrite = route.strip_prefix, route.rewrite
    compiled_paths: list[tuple[PatternKey, Compiled]] = []
    used, known = patterns.used, patterns.known
    for i, source in enumerate(paths):
        key = (source, strip_prefix, rewrite)
        compiled = used.get(key)
        if compiled is None:
            compiled = known.get(key)
            if compiled is None:
                compiled = _compile_path(route, i, source, strip_prefix, rewrite, errors)
                if compiled is None:
                    continue
            used[key] = compiled
        compiled_paths.append((key, compiled))
    if len(errors) > found:
        return None
    own = route.priority << PRIORITY_SHIFT | bool(conditions) << 1
    if methods is not None:
        own |= 1
    places = tuple(
        [
            (own | host_key | pattern.specificity << 2, host, pattern, forward)
            for host, host_key in (
                [(host, host.specificity << HOST_SHIFT) for host in hosts] if hosts else _ANY_HOST
            )
            for _, (pattern, forward) in compiled_paths
        ]
    )
    # (Without __init__, as `_expand` makes entries.)
    parts = _new(_Parts)
    parts.name = route.name
    parts.conditions = tuple(conditions)
    parts.methods = methods
    parts.places = places
    parts.paths = tuple(compiled_paths)
    return parts


# The bits of a place's key (see `_Parts`), from the least significant: named methods,
# header conditions, the path's specificity, the host's length (32 bits) and kind (2),
# then the priority with its sign (the bits below a shifted negative number are zero,
# so `|` adds the rest to it as to a positive one).
HOST_SHIFT = 2 + SPECIFICITY_BITS
PRIORITY_SHIFT = HOST_SHIFT + 34
_ANY_HOST = ((ANY_HOST, ANY_HOST.specificity << HOST_SHIFT),)


def _compile_path(
    route: RouteFields,
    i: int,
    source: str,
    strip_prefix: bool,
    rewrite: str,
    errors: list[ConfigError],
) -> Compiled | None:
    """The pattern and forwarding of `route`'s path `i`, or None after adding the error.

    (The fields the errors name are written only for an error: a full compile of
    10,000 routes would otherwise format 20,000 strings it never reads.)"""
    pattern = compile_pattern(source, "")
    if isinstance(pattern, ConfigError):
        errors.append(ConfigError(f"routes.{route.name}.paths.{i}", pattern.message))
        return None
    if not strip_prefix and not rewrite:
        return pattern, KEEP  # as compile_forward has it, without the call
    forward = compile_forward(pattern, strip_prefix, rewrite, "")
    if isinstance(forward, ConfigError):
        errors.append(ConfigError(f"routes.{route.name}{forward.field}", forward.message))
        return None
    return pattern, forward


def _expand(payload: R, parts: _Parts, definition: bytes) -> tuple[_Entry[R], ...]:
    """One entry per host and path of a route, in the order of `parts.places` (no rank
    yet)."""
    conditions, methods, name = parts.conditions, parts.methods, parts.name
    expanded: list[_Entry[R]] = []
    for key, _, pattern, forward in parts.places:
        # Made without __init__, attribute by attribute: a dataclass's __init__ is called
        # through the type with a tuple of arguments, which costs twice the assignments.
        entry: _Entry[R] = _new(_Entry)
        entry.rank = -1
        entry.key = key
        entry.name = name
        entry.payload = payload
        entry.methods = methods
        entry.conditions = conditions
        entry.pattern = pattern
        entry.forward = forward
        entry.keeps_path = forward.kind is _KEEP_PATH
        entry.fixed = None
        entry.definition = definition
        if pattern.kind is _EXACT:
            entry.fixed = RouteMatch(payload, forward.path(pattern.source), name)
        expanded.append(entry)
    return tuple(expanded)


# ---------------------------------------------------------------- incremental compile


def _update(
    previous: RouteTable[Any], routes: Sequence[tuple[AnyRoute, R]], definitions: Sequence[bytes]
) -> RouteTable[R] | None:
    """`previous` with the changed routes taken out and put in, or None when a full
    compile is due (too many changes, no rank left between two entries, or routes that
    share a definition)."""
    old_entries: dict[bytes, tuple[_Entry[Any], ...]] = previous._entries
    kept: set[bytes] = set()
    added: list[tuple[AnyRoute, R, bytes]] = []
    for (route, payload), definition in zip(routes, definitions, strict=True):
        entries = old_entries.get(definition)
        if entries is not None and entries[0].payload is payload:
            kept.add(definition)
        else:
            added.append((route, payload, definition))
    if len(kept) + len(added) != len(routes):
        return None
    return previous.updated(old_entries.keys() - kept, added, len(routes))


def _updated(
    previous: RouteTable[Any],
    removed: Collection[bytes],
    added: Sequence[tuple[AnyRoute, R, bytes]],
    routes: int,
) -> RouteTable[R] | None:
    """See `RouteTable.updated`."""
    old_entries: dict[bytes, tuple[_Entry[Any], ...]] = previous._entries
    if len(added) + len(removed) > max(INCREMENTAL_ROUTES, routes // INCREMENTAL_SHARE):
        return None
    if any(definition not in old_entries for definition in removed):
        return None
    # copy(), not dict(): only copy() clones a dict with holes (from earlier updates)
    # in one go, about 6 times quicker at 10,000 routes.
    kept: dict[bytes, tuple[_Entry[R], ...]] = old_entries.copy()
    parts_of = previous._parts.copy()
    for definition in removed:
        del kept[definition]
        del parts_of[definition]
    if len({d for _, _, d in added}) != len(added) or any(d in kept for _, _, d in added):
        return None
    if len(kept) + len(added) != routes:
        return None
    errors: list[ConfigError] = []
    new_parts: list[tuple[R, bytes, _Parts]] = []
    # The previous table's paths are looked up, not added to: the cache stays the size of
    # the last full compile's table (a later one records what it uses).
    patterns = Patterns(previous._patterns)
    for route, payload, definition in added:
        parts = previous._parts.get(definition) or _compile_parts(route, errors, patterns)
        if parts is not None:
            parts_of[definition] = parts
            new_parts.append((payload, definition, parts))
    if errors:
        raise ConfigInvalid(list(dict.fromkeys(errors)))

    editor: _Editor[R] = _Editor(previous._hosts.copy())
    ranked: list[_Entry[R]] = previous._ranked.copy()
    conditioned = previous._conditioned
    for definition in removed:
        # A route's entries are in the order of its parts' places (see `_expand`).
        places = previous._parts[definition].places
        for entry, (_, host, _, _) in zip(old_entries[definition], places, strict=True):
            at = bisect_left(ranked, entry.rank, key=_by_rank)
            assert ranked[at] is entry
            del ranked[at]
            editor.remove(host, entry)
            conditioned -= bool(entry.conditions)
    for payload, definition, parts in new_parts:
        expanded = _expand(payload, parts, definition)
        # Listed before they are placed: a respacing may replace the ones placed already.
        kept[definition] = expanded
        for entry, (_, host, _, _) in zip(expanded, parts.places, strict=True):
            at = _place(ranked, entry)
            low = ranked[at - 1].rank if at else 0
            high = ranked[at].rank if at < len(ranked) else low + 2 * RANK_SPACING
            if high - low < 2:
                if not _respace(ranked, at, editor, kept, parts_of):
                    return None  # too crowded: a full compile spaces every rank anew
                low = ranked[at - 1].rank if at else 0
                high = ranked[at].rank
            entry.rank = (low + high) // 2
            ranked.insert(at, entry)
            editor.add(host, entry)
            conditioned += bool(entry.conditions)
    editor.finish()
    table: RouteTable[R] = RouteTable(editor.hosts, routes, conditioned > 0, parts_of)
    table._patterns = previous._patterns
    table._entries = kept
    table._ranked = ranked
    table._conditioned = conditioned
    table._lineage = previous._lineage
    return table


# A used-up rank gap is reopened by spacing out the entries around it, at most this many.
RESPACED_ENTRIES = 1024


def _respace(
    ranked: list[_Entry[R]],
    at: int,
    editor: _Editor[R],
    kept: dict[bytes, tuple[_Entry[R], ...]],
    parts_of: Mapping[bytes, _Parts],
) -> bool:
    """Make room for an entry at `ranked[at]` when no rank is left between its
    neighbours: the fewest entries around `at` whose ranks span enough are given ranks
    evenly spaced over that span (leaving one gap free at `at`), each as a copy, since
    the live table shares them. False when that would take more than RESPACED_ENTRIES.

    Without it, a one-route change that lands repeatedly at one place (a route moved,
    then the next one beside it) compiles the whole table every twenty-odd changes,
    holding the old and the new one at once: a peak the worker's memory keeps.
    """
    count = len(ranked)
    reach = 4
    while True:
        first, last = max(0, at - reach), min(count, at + reach)
        low = ranked[first - 1].rank if first else 0
        slots = last - first + 2  # the gaps between the respaced entries and the new one
        # Nothing above the last entry: the span may grow (and always suffices).
        high = low + slots * RANK_SPACING if last == count else ranked[last].rank
        spacing = (high - low) // slots
        if spacing >= max(2, RANK_SPACING >> 8):
            break
        if last - first > RESPACED_ENTRIES:
            return False
        reach *= 2
    for place in range(first, last):
        entry = ranked[place]
        definition = entry.definition
        entries = kept[definition]
        index = next(i for i, listed in enumerate(entries) if listed is entry)
        host = parts_of[definition].places[index][1]
        slot = place - first + (1 if place < at else 2)
        copied = replace(entry, rank=low + slot * spacing)
        editor.remove(host, entry)
        editor.add(host, copied)
        ranked[place] = copied
        kept[definition] = (*entries[:index], copied, *entries[index + 1 :])
    return True


def _place(ranked: list[_Entry[R]], entry: _Entry[R]) -> int:
    """Where `entry` goes in `ranked`: after the entries it outranks (a lower key, or the
    same key and a name sorting after its own, or its own route's places before it),
    before the others."""
    low, high = 0, len(ranked)
    key, name = entry.key, entry.name
    while low < high:
        middle = (low + high) // 2
        other = ranked[middle]
        if other.key < key or (other.key == key and other.name >= name):
            low = middle + 1
        else:
            high = middle
    return low


class _Editor(Generic[R]):
    """Copy-on-write edits of a host index whose buckets a live table shares: each
    bucket, trie node and entry list touched is copied once, then edited in place."""

    def __init__(self, hosts: HostIndex[_Bucket[R]]) -> None:
        self.hosts = hosts
        self._touched: dict[HostPattern, _Bucket[R]] = {}
        self._own: set[int] = set()  # ids of the nodes and lists copied here

    def _bucket(self, host: HostPattern) -> _Bucket[R]:
        bucket = self._touched.get(host)
        if bucket is None:
            old = self.hosts.get(host)
            bucket = _Bucket()
            if old is not None:
                bucket.exact = old.exact.copy()
                bucket.regexes = list(old.regexes)
                bucket.trie = old.trie
                bucket.top_rank = old.top_rank
            self._touched[host] = bucket
            self.hosts.put(host, bucket)
        return bucket

    def _list(self, entries: list[_Entry[R]] | None) -> list[_Entry[R]]:
        if entries is not None and id(entries) in self._own:
            return entries
        copied = [] if entries is None else list(entries)
        self._own.add(id(copied))
        return copied

    def _node(self, node: _Node[R] | None) -> _Node[R]:
        if node is not None and id(node) in self._own:
            return node
        copied: _Node[R] = _Node()
        if node is not None:
            copied.children = node.children.copy()
            copied.star = node.star
            copied.rest = node.rest
            copied.end = node.end
        self._own.add(id(copied))
        return copied

    def _lists_at(self, bucket: _Bucket[R], pattern: PathPattern) -> tuple[_Node[R], str]:
        """The own copy of the trie node holding `pattern`'s entries, and which of its
        lists ("rest" or "end"), copying the path down to it."""
        node = bucket.trie = self._node(bucket.trie)
        for segment in pattern.segments:
            if segment == "**":
                return node, "rest"
            if segment == "*":
                child = node.star = self._node(node.star)
            else:
                child = node.children[segment] = self._node(node.children.get(segment))
            node = child
        return node, "end"

    def add(self, host: HostPattern, entry: _Entry[R]) -> None:
        bucket = self._bucket(host)
        bucket.top_rank = max(bucket.top_rank, entry.rank)
        pattern = entry.pattern
        if pattern.kind is _EXACT:
            entries = bucket.exact[pattern.source] = self._list(bucket.exact.get(pattern.source))
        elif pattern.kind is _REGEX:
            entries = bucket.regexes
        else:
            node, which = self._lists_at(bucket, pattern)
            entries = self._list(getattr(node, which))
            setattr(node, which, entries)
        insort(entries, entry, key=_by_descending_rank)

    def remove(self, host: HostPattern, entry: _Entry[R]) -> None:
        """Take `entry` out; the bucket's `top_rank` stays an upper bound."""
        bucket = self._bucket(host)
        pattern = entry.pattern
        if pattern.kind is _EXACT:
            entries = self._list(bucket.exact.get(pattern.source))
            _drop(entries, entry)
            if entries:
                bucket.exact[pattern.source] = entries
            else:
                del bucket.exact[pattern.source]
        elif pattern.kind is _REGEX:
            _drop(bucket.regexes, entry)
        else:
            node, which = self._lists_at(bucket, pattern)
            entries = self._list(getattr(node, which))
            _drop(entries, entry)
            setattr(node, which, entries)
            self._prune(bucket, pattern)

    def _prune(self, bucket: _Bucket[R], pattern: PathPattern) -> None:
        """Cut the trie nodes left empty along `pattern`'s path (all own copies)."""
        assert bucket.trie is not None
        path: list[tuple[_Node[R], str]] = []
        node = bucket.trie
        for segment in pattern.segments:
            if segment == "**":
                break
            path.append((node, segment))
            child = node.star if segment == "*" else node.children[segment]
            assert child is not None
            node = child
        while path and not (node.children or node.star or node.rest or node.end):
            parent, segment = path.pop()
            if segment == "*":
                parent.star = None
            else:
                del parent.children[segment]
            node = parent
        if not path and not (node.children or node.star or node.rest or node.end):
            bucket.trie = None

    def finish(self) -> None:
        """Drop the buckets left empty."""
        for host, bucket in self._touched.items():
            if not (bucket.exact or bucket.regexes or bucket.trie is not None):
                self.hosts.put(host, None)


def _drop(entries: list[_Entry[R]], entry: _Entry[R]) -> None:
    for i, listed in enumerate(entries):
        if listed is entry:
            del entries[i]
            return
    raise AssertionError(f"{entry.name}: an entry missing from its list")


def _by_descending_rank(entry: _Entry[R]) -> int:
    return -entry.rank
