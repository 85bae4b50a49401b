"""Route hosts, and which of them a request's Host header selects.

A route host is a name (`api.example.com`) or a wildcard (`*.example.com`, matching
one or more labels in front of `.example.com`, never `example.com` itself), with an
optional `:port`. Matching ignores case and a trailing dot, and ignores the port the
request names unless the route host names one; then the ports must be equal.

Each distinct route host owns a bucket (the routes under it); a request's Host picks
the exact bucket, every wildcard bucket whose suffix it ends with, and the bucket of
routes without hosts. What a Host value selects is cached, so the usual request costs
one dict lookup here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import Generic, TypeVar

from data_plane.config.errors import ConfigError
from data_plane.config.syntax import host_problem

B = TypeVar("B")

# Host values are chosen by clients: the cache of what they select stays bounded.
_SELECTION_CACHE_SIZE = 1024


class HostKind(IntEnum):
    """Kinds of route host, valued by specificity: a higher value wins."""

    ANY = 0
    WILDCARD = 1
    EXACT = 2


@dataclass(frozen=True, slots=True)
class HostPattern:
    """One compiled route host; `key` is its bucket's key in the index."""

    kind: HostKind
    key: str  # "api.example.com[:port]", ".example.com[:port]" for a wildcard, "" for any

    @property
    def specificity(self) -> int:
        """Exact over wildcard over any host; a longer wildcard suffix over a shorter:
        the kind above bit 32, the key's length below (a route table's sort key packs it)."""
        return self.kind << 32 | len(self.key)


ANY_HOST = HostPattern(HostKind.ANY, "")


def compile_host(source: str, field: str) -> HostPattern | ConfigError:
    host = source.lower()
    problem = host_problem(host)
    if problem is not None:
        return ConfigError(field, problem)
    if host.startswith("*."):
        return HostPattern(HostKind.WILDCARD, host[1:])
    return HostPattern(HostKind.EXACT, host)


def split_host(host: str) -> tuple[str, str]:
    """A Host header value as (name, port): lower case, no trailing dot, port maybe ""."""
    host = host.lower()
    if host.startswith("["):  # an IPv6 literal: "[::1]:8080"
        end = host.find("]") + 1
        name, rest = host[:end], host[end:]
        port = rest[1:] if rest.startswith(":") else ""
    else:
        name, sep, port = host.rpartition(":")
        if not sep:
            name, port = host, ""
    if port and not port.isdigit():
        return host, ""
    return name.rstrip("."), port


class HostIndex(Generic[B]):
    """Buckets of routes by route host, and the buckets a Host header selects."""

    def __init__(self) -> None:
        self._exact: dict[str, B] = {}
        self._wildcard: dict[str, B] = {}
        self._any: B | None = None
        self._selected: dict[str, tuple[B, ...]] = {}

    def bucket(self, pattern: HostPattern, new: Callable[[], B]) -> B:
        """The bucket of `pattern`, made with `new()` the first time."""
        if pattern.kind is HostKind.ANY:
            if self._any is None:
                self._any = new()
            return self._any
        buckets = self._exact if pattern.kind is HostKind.EXACT else self._wildcard
        found = buckets.get(pattern.key)
        if found is None:
            found = buckets[pattern.key] = new()
        return found

    def copy(self) -> HostIndex[B]:
        """An index of the same buckets, to replace some of them in (see `put`)."""
        other: HostIndex[B] = HostIndex()
        other._exact = dict(self._exact)
        other._wildcard = dict(self._wildcard)
        other._any = self._any
        return other

    def get(self, pattern: HostPattern) -> B | None:
        if pattern.kind is HostKind.ANY:
            return self._any
        return (self._exact if pattern.kind is HostKind.EXACT else self._wildcard).get(pattern.key)

    def put(self, pattern: HostPattern, bucket: B | None) -> None:
        """Make `bucket` the bucket of `pattern`; None removes it. Only on an index no
        request reads yet: what a Host selects is cached."""
        self._selected.clear()
        if pattern.kind is HostKind.ANY:
            self._any = bucket
            return
        buckets = self._exact if pattern.kind is HostKind.EXACT else self._wildcard
        if bucket is None:
            buckets.pop(pattern.key, None)
        else:
            buckets[pattern.key] = bucket

    def buckets(self) -> list[B]:
        every = [*self._exact.values(), *self._wildcard.values()]
        return every if self._any is None else [*every, self._any]

    def select(self, host: str) -> tuple[B, ...]:
        """Every bucket whose route host admits `host`, a Host header value as received."""
        selected = self._selected.get(host)
        if selected is None:
            selected = self._select(host)
            if len(self._selected) >= _SELECTION_CACHE_SIZE:
                self._selected.clear()
            self._selected[host] = selected
        return selected

    def _select(self, host: str) -> tuple[B, ...]:
        name, port = split_host(host)
        keys = [name + ":" + port, name] if port else [name]
        found = [b for b in map(self._exact.get, keys) if b is not None]
        if self._wildcard:
            # A wildcard needs at least one character in front of its suffix.
            dot = name.find(".", 1)
            while dot != -1:
                suffix = name[dot:]
                for key in (suffix + ":" + port, suffix) if port else (suffix,):
                    bucket = self._wildcard.get(key)
                    if bucket is not None:
                        found.append(bucket)
                dot = name.find(".", dot + 1)
        if self._any is not None:
            found.append(self._any)
        return tuple(found)
