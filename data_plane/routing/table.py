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

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, NamedTuple, TypeVar

from fleetgate_pb import config_pb2 as pb

from data_plane.config.errors import ConfigError, ConfigInvalid

from .forwarding import Forward, ForwardKind, compile_forward
from .headers import HeaderCondition, compile_header_match
from .hosts import ANY_HOST, HostIndex, HostPattern, compile_host
from .patterns import PathPattern, PatternKind, compile_pattern
from .regex import Match

R = TypeVar("R")

_NO_HEADERS: Mapping[str, str] = {}


class RouteMatch(NamedTuple, Generic[R]):
    """The route a request goes to and the path to forward."""

    route: R  # the payload the caller compiled for that route
    path: str  # normalized, then strip_prefix / rewrite applied
    name: str  # the route's name


# A named tuple built from a tuple skips the keyword-capable __new__: one match per
# request, so it counts.
_new_match = tuple.__new__


@dataclass(slots=True, frozen=True)
class MethodNotAllowed:
    """Routes fit the request's host and path, but none admits its method."""

    allow: str  # the Allow header value, e.g. "GET, HEAD, POST"


@dataclass(slots=True)
class _Entry(Generic[R]):
    """One (route, host, path pattern) of the table."""

    rank: int
    name: str
    payload: R
    methods: frozenset[str] | None  # None: any method
    conditions: tuple[HeaderCondition, ...]
    pattern: PathPattern
    forward: Forward
    keeps_path: bool  # the forwarded path is the matched one
    # Exact patterns always forward the same path: their answer is built once.
    fixed: RouteMatch[R] | None


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
        self.top_rank = max(self.top_rank, entry.rank)
        pattern = entry.pattern
        if pattern.kind is PatternKind.EXACT:
            self.exact.setdefault(pattern.source, []).append(entry)
            return
        if pattern.kind is PatternKind.REGEX:
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
                node = node.children.setdefault(segment, _Node())
        node.end.append(entry)

    def seal(self) -> None:
        """Order every entry list by rank, best first, so lookups can stop early."""
        for entries in self.exact.values():
            entries.sort(key=_by_rank, reverse=True)
        self.regexes.sort(key=_by_rank, reverse=True)
        stack = [self.trie] if self.trie is not None else []
        while stack:
            node = stack.pop()
            node.rest.sort(key=_by_rank, reverse=True)
            node.end.sort(key=_by_rank, reverse=True)
            stack.extend(node.children.values())
            if node.star is not None:
                stack.append(node.star)

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

    def candidates(self, path: str) -> list[list[_Entry[R]]]:
        """The entry lists whose exact or wildcard pattern matches `path`."""
        found: list[list[_Entry[R]]] = []
        exact = self.exact.get(path)
        if exact is not None:
            found.append(exact)
        node = self.trie
        if node is None:
            return found
        segments = path.split("/")  # ["", first, ...]: the path starts with "/"
        depth = len(segments)
        i = 1
        branches: list[tuple[_Node[R], int]] | None = None  # "*" branches left to walk
        while True:
            if node.rest:
                found.append(node.rest)
            if i == depth:
                if node.end:
                    found.append(node.end)
            else:
                segment = segments[i]
                i += 1
                star = node.star
                if star is not None and segment:
                    if branches is None:
                        branches = []
                    branches.append((star, i))
                child = node.children.get(segment)
                if child is not None:
                    node = child
                    continue
            if not branches:
                return found
            node, i = branches.pop()


def _by_rank(entry: _Entry[R]) -> int:
    return entry.rank


def _admits(conditions: tuple[HeaderCondition, ...], headers: Mapping[str, str]) -> bool:
    return all(condition.admits(headers) for condition in conditions)


class RouteTable(Generic[R]):
    """Every route of a snapshot, compiled for lookup; immutable once built."""

    __slots__ = ("_hosts", "_parts", "needs_headers", "routes")

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

    @classmethod
    def compile(
        cls, routes: Sequence[tuple[pb.Route, R]], previous: RouteTable[Any] | None = None
    ) -> RouteTable[R]:
        """The table of `routes`, each with the payload a match returns.

        A route that `previous` (the table this one replaces) compiled from the same
        definition reuses its compiled hosts, paths and header conditions: those are
        most of a compile, so a change to one route of 10,000 recompiles one. Ranks and
        entries are always made afresh; the result equals a compile without `previous`.

        Raises ConfigInvalid naming every route field that cannot be compiled.
        """
        errors: list[ConfigError] = []
        keyed: list[tuple[tuple[object, ...], HostPattern, _Entry[R]]] = []
        order = {name: i for i, name in enumerate(sorted(route.name for route, _ in routes))}
        known = {} if previous is None else previous._parts
        parts_of: dict[bytes, _Parts] = {}
        for route, payload in routes:
            definition = route.SerializeToString(deterministic=True)
            parts = known.get(definition)
            if parts is None:
                parts = _compile_parts(route, errors)
                if parts is None:
                    continue
            parts_of[definition] = parts
            for key, host, entry in _expand(route, payload, parts):
                keyed.append(((*key, -order[route.name]), host, entry))
        if errors:
            raise ConfigInvalid(list(dict.fromkeys(errors)))
        keyed.sort(key=lambda item: item[0])
        index: HostIndex[_Bucket[R]] = HostIndex()
        for rank, (_, host, entry) in enumerate(keyed):
            entry.rank = rank
            index.bucket(host, _Bucket).add(entry)
        for bucket in index.buckets():
            bucket.seal()
        needs_headers = any(entry.conditions for _, _, entry in keyed)
        return cls(index, len(routes), needs_headers, parts_of)

    def match(
        self, method: str, host: str, path: str, headers: Mapping[str, str] | None = None
    ) -> RouteMatch[R] | MethodNotAllowed | None:
        """The route for a request, `MethodNotAllowed` (405) or None (404).

        `host` is the Host header as received, `path` the normalized path, `headers`
        the request headers by lower-case name (needed only when `needs_headers`).
        A regex rewrite that yields an unservable path raises BadPath (400).
        """
        if headers is None:
            headers = _NO_HEADERS
        best: _Entry[R] | None = None
        best_regex: Match | None = None
        refused: list[_Entry[R]] | None = None
        for bucket in self._hosts.select(host):
            if best is not None and bucket.top_rank <= best.rank:
                continue
            for entries in bucket.candidates(path):
                for entry in entries:
                    if best is not None and entry.rank <= best.rank:
                        break
                    if entry.conditions and not _admits(entry.conditions, headers):
                        continue
                    if entry.methods is not None and method not in entry.methods:
                        if refused is None:
                            refused = []
                        refused.append(entry)
                        continue
                    best = entry
                    break
            for entry in bucket.regexes:
                if best is not None and entry.rank <= best.rank:
                    break
                regex = entry.pattern.regex
                assert regex is not None
                found = regex.fullmatch(path)
                if found is None:
                    continue
                if entry.conditions and not _admits(entry.conditions, headers):
                    continue
                if entry.methods is not None and method not in entry.methods:
                    if refused is None:
                        refused = []
                    refused.append(entry)
                    continue
                best, best_regex = entry, found
                break
        if best is None:
            return _method_not_allowed(refused) if refused else None
        if best.fixed is not None:
            return best.fixed
        if best.keeps_path:
            return _new_match(RouteMatch, (best.payload, path, best.name))
        forwarded = best.forward.path(path, best_regex)
        return _new_match(RouteMatch, (best.payload, forwarded, best.name))

    def dismantle(self, pieces: int = 200) -> Iterator[None]:
        """Drop the table's contents a few at a time, yielding between pieces.

        Freeing a table of 10,000 routes at once takes tens of milliseconds of one
        uninterrupted deallocation; a worker that runs this generator a step per loop
        turn frees it without holding up the requests in between. Only the table's own
        containers are emptied: route payloads that exchanges in flight still hold, and
        anything a newer table shares, live on. The table matches nothing afterwards.
        """
        hosts, self._hosts = self._hosts, HostIndex()
        for bucket in hosts.buckets():
            yield from bucket.dismantle(pieces)
        parts = self._parts
        while parts:
            parts.popitem()
            if len(parts) % pieces == 0:
                yield

    def __repr__(self) -> str:
        buckets = self._hosts.buckets()
        regexes = sum(len(b.regexes) for b in buckets)
        return (
            f"<RouteTable routes={self.routes} hosts={len(buckets)} regexes={regexes}"
            f" needs_headers={self.needs_headers}>"
        )


def _method_not_allowed(refused: list[_Entry[R]]) -> MethodNotAllowed:
    allowed: set[str] = set()
    for entry in refused:
        assert entry.methods is not None
        allowed |= entry.methods
    return MethodNotAllowed(", ".join(sorted(allowed)))


@dataclass(slots=True, frozen=True)
class _Parts:
    """What a route compiles to before it has a place in a table: a function of the
    route alone, so a table reuses its predecessor's for every unchanged route."""

    conditions: tuple[HeaderCondition, ...]
    methods: frozenset[str] | None  # None: any method
    # One per host and path: the specificity key (without the name's place), the host,
    # the path pattern and how the path is forwarded.
    places: tuple[tuple[tuple[object, ...], HostPattern, PathPattern, Forward], ...]


def _compile_parts(route: pb.Route, errors: list[ConfigError]) -> _Parts | None:
    """The compiled hosts, header conditions, methods and paths of `route`, or None
    after adding its errors to `errors`."""
    where = f"routes.{route.name}"
    found = len(errors)
    hosts: list[HostPattern] = []
    for i, source in enumerate(route.hosts):
        host = compile_host(source, f"{where}.hosts.{i}")
        if isinstance(host, ConfigError):
            errors.append(host)
        else:
            hosts.append(host)
    conditions: list[HeaderCondition] = []
    for i, header in enumerate(route.headers):
        condition = compile_header_match(header, f"{where}.headers.{i}")
        if isinstance(condition, ConfigError):
            errors.append(condition)
        else:
            conditions.append(condition)
    methods: frozenset[str] | None = None
    if route.methods:
        named = {m.upper() for m in route.methods}
        methods = frozenset(named | {"HEAD"} if "GET" in named else named)
    if not route.paths:
        errors.append(ConfigError(f"{where}.paths", "a route needs at least one path"))
    patterns: list[tuple[PathPattern, Forward]] = []
    for i, source in enumerate(route.paths):
        pattern = compile_pattern(source, f"{where}.paths.{i}")
        if isinstance(pattern, ConfigError):
            errors.append(pattern)
            continue
        forward = compile_forward(pattern, route.strip_prefix, route.rewrite, where)
        if isinstance(forward, ConfigError):
            errors.append(forward)
            continue
        patterns.append((pattern, forward))
    if len(errors) > found:
        return None
    places = tuple(
        (
            (
                route.priority,
                *host.specificity,
                *pattern.specificity,
                bool(conditions),
                methods is not None,
            ),
            host,
            pattern,
            forward,
        )
        for host in hosts or (ANY_HOST,)
        for pattern, forward in patterns
    )
    return _Parts(tuple(conditions), methods, places)


def _expand(
    route: pb.Route, payload: R, parts: _Parts
) -> list[tuple[tuple[object, ...], HostPattern, _Entry[R]]]:
    """One entry per host and path of `route`, with its specificity key (no rank yet)."""
    conditions, methods = parts.conditions, parts.methods
    expanded: list[tuple[tuple[object, ...], HostPattern, _Entry[R]]] = []
    for key, host, pattern, forward in parts.places:
        entry = _Entry(
            rank=-1,
            name=route.name,
            payload=payload,
            methods=methods,
            conditions=conditions,
            pattern=pattern,
            forward=forward,
            keeps_path=forward.kind is ForwardKind.KEEP,
            fixed=None,
        )
        if pattern.kind is PatternKind.EXACT:
            entry.fixed = RouteMatch(payload, forward.path(pattern.source), route.name)
        expanded.append((key, host, entry))
    return expanded
