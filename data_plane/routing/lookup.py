"""The route table's request-time walk: the best entry of the buckets a Host selected.

This is the part of `table.py` that runs once per request, apart so that it can be
compiled: Cython builds it into `lookup_c` (typed by `lookup_c.pxd`), and
data_plane/extensions.py picks that twin unless `FLEETGATE_NO_EXTENSIONS=1`. It reads
the table's buckets, trie nodes and entries (see `table.py` for what they hold and how
they are ranked) and never changes them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .matches import MethodNotAllowed, RouteMatch, method_not_allowed

if TYPE_CHECKING:
    from .regex import Match
    from .table import RouteTable

_NO_HEADERS: Mapping[str, str] = {}
# A named tuple built from a tuple skips the keyword-capable __new__: one match per
# request, so it counts.
_new_match = tuple.__new__


def match(
    table: RouteTable[Any],
    method: str,
    host: str,
    path: str,
    headers: Mapping[str, str] | None = None,
) -> RouteMatch[Any] | MethodNotAllowed | None:
    """`RouteTable.match`: the route for a request, `MethodNotAllowed` (405) or None (404).

    `host` is the Host header as received, `path` the normalized path, `headers` the
    request headers by lower-case name (needed only when the table `needs_headers`).
    A regex rewrite that yields an unservable path raises BadPath (400).
    """
    hosts = table._hosts
    # What `HostIndex.select` caches, read here: a Host seen before costs a dict lookup,
    # not a Python call.
    selected: dict[str, tuple[Any, ...]] = hosts._selected
    buckets = selected.get(host)
    if buckets is None:
        buckets = hosts.select(host)
    best, found = find(buckets, method, path, headers or _NO_HEADERS)
    if best is None:
        if found:
            return method_not_allowed([entry.methods for entry in found])
        return None
    fixed = best.fixed
    if fixed is not None:
        return fixed
    if best.keeps_path:
        return _new_match(RouteMatch, (best.payload, path, best.name))
    return _new_match(RouteMatch, (best.payload, best.forward.path(path, found), best.name))


def find(
    buckets: tuple[Any, ...], method: str, path: str, headers: Mapping[str, str]
) -> tuple[Any, Any]:
    """(entry, regex match) of the best entry in `buckets` for the request, the match
    None unless a `~regex` path chose it; or (None, the entries that fit all but the
    method, None when there are none).

    Within a bucket, entry lists are in rank order, best first, so a scan stops at the
    first entry that cannot outrank the best so far.
    """
    best = None
    best_rank = -1  # ranks are positive
    best_match: Match | None = None
    refused: list[Any] | None = None
    for bucket in buckets:
        if bucket.top_rank <= best_rank:
            continue
        for entries in _candidates(bucket, path):
            for entry in entries:
                rank = entry.rank
                if rank <= best_rank:
                    break
                verdict = _admission(entry, method, headers)
                if verdict == _FITS:
                    best, best_rank, best_match = entry, rank, None
                    break
                if verdict == _WRONG_METHOD:
                    refused = _with(refused, entry)
        for entry in bucket.regexes:
            rank = entry.rank
            if rank <= best_rank:
                break
            matched = entry.pattern.regex.fullmatch(path)
            if matched is None:
                continue
            verdict = _admission(entry, method, headers)
            if verdict == _FITS:
                best, best_rank, best_match = entry, rank, matched
                break
            if verdict == _WRONG_METHOD:
                refused = _with(refused, entry)
    if best is None:
        return None, refused
    return best, best_match


def _candidates(bucket: Any, path: str) -> list[Any]:
    """The entry lists of `bucket` whose exact or wildcard pattern matches `path`."""
    found = []
    exacts: dict[str, list[Any]] = bucket.exact  # a dict: its `get` is a C call compiled
    exact = exacts.get(path)
    if exact is not None:
        found.append(exact)
    node = bucket.trie
    if node is None:
        return found
    # The path's segments are cut as the walk reaches them (most walks stop after a few):
    # `at` is where the next one starts, `length + 1` once there is none. The path
    # starts with "/".
    length = len(path)
    at = 1
    branches: list[tuple[Any, int]] | None = None  # "*" branches left to walk
    while True:
        if node.rest:
            found.append(node.rest)
        if at > length:
            if node.end:
                found.append(node.end)
        else:
            end = path.find("/", at)
            if end < 0:
                end = length
            segment = path[at:end]
            at = end + 1
            star = node.star
            if star is not None and segment:
                if branches is None:
                    branches = []
                branches.append((star, at))
            children: dict[str, Any] = node.children
            child = children.get(segment)
            if child is not None:
                node = child
                continue
        if not branches:
            return found
        node, at = branches.pop()


# What an entry whose path matched says of a request (`_admission`).
_UNFIT = 0  # a header condition refuses it: as if the path had not matched
_WRONG_METHOD = 1  # all but the method fit: a 405 candidate
_FITS = 2


def _admission(entry: Any, method: str, headers: Mapping[str, str]) -> int:
    conditions = entry.conditions
    if conditions and not all(condition.admits(headers) for condition in conditions):
        return _UNFIT
    methods = entry.methods
    if methods is not None and method not in methods:
        return _WRONG_METHOD
    return _FITS


def _with(refused: list[Any] | None, entry: Any) -> list[Any]:
    """`refused` with `entry` appended, made on the first refusal (rare: no list otherwise)."""
    if refused is None:
        return [entry]
    refused.append(entry)
    return refused
