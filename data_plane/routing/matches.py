"""What the route table answers a request with: a match, or a 405's `Allow`.

Apart from `table.py`, which compiles the table, and `lookup.py`, which walks it per
request, so that both twins of the walk build the very same classes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, NamedTuple, TypeVar

R = TypeVar("R")


class RouteMatch(NamedTuple, Generic[R]):
    """The route a request goes to and the path to forward."""

    route: R  # the payload the caller compiled for that route
    path: str  # normalized, then strip_prefix / rewrite applied
    name: str  # the route's name


@dataclass(slots=True, frozen=True)
class MethodNotAllowed:
    """Routes fit the request's host and path, but none admits its method."""

    allow: str  # the Allow header value, e.g. "GET, HEAD, POST"


def method_not_allowed(refused: list[frozenset[str] | None]) -> MethodNotAllowed:
    """The 405 of a request that routes refused by method only; `refused`: their methods."""
    allowed: set[str] = set()
    for methods in refused:
        assert methods is not None
        allowed |= methods
    return MethodNotAllowed(", ".join(sorted(allowed)))
