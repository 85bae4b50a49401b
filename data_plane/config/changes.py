"""Which routes changed from one snapshot to the next, by their serialized definitions.

A node applying a one-route change to 10,000 routes must find the one route without
doing much per route: the checks, the plans and the route table all redo only what
changed. Definitions at the same position are compared first, in C (a change edits
routes in place far more often than it inserts or deletes one); only when the counts
differ are both sides hashed into sets.
"""

from __future__ import annotations

from collections.abc import Sequence, Set
from dataclasses import dataclass
from itertools import compress
from operator import ne


@dataclass(slots=True, frozen=True)
class RouteChanges:
    """The definitions of the routes gone since the previous snapshot, and where the new
    snapshot's routes that the previous one lacked are."""

    removed: frozenset[bytes]
    added: tuple[int, ...]  # positions in the new snapshot, ascending
    # The new snapshot's definitions, an unchanged route's as the very object the
    # previous one's records are keyed by: records kept from one compile to the next
    # then hold one copy of each key, not two.
    definitions: list[bytes]

    @classmethod
    def between(
        cls,
        before: Sequence[bytes],
        known: Set[bytes],
        after: Sequence[bytes],
        limit: int | None = None,
    ) -> RouteChanges | None:
        """The changes from the routes `before` (which passed the checks, so no two are
        equal; `known`: the same, for lookups) to the routes `after`; None when `after`
        holds a definition twice, which only the full checks may report, or when more
        than `limit` routes are new (None: no limit), for which a compile looks at
        every route anyway."""
        if len(before) == len(after):
            moved = list(compress(range(len(after)), map(ne, before, after)))
            return cls.at(before, known, after, moved, limit)
        current = set(after)
        if len(current) != len(after):
            return None
        fresh = current - known
        if limit is not None and len(fresh) > limit:
            return None
        where = {definition: i for i, definition in enumerate(after)} if len(fresh) > 8 else None
        added = sorted(after.index(d) if where is None else where[d] for d in fresh)
        canonical = {definition: definition for definition in known}
        definitions = [canonical.get(definition, definition) for definition in after]
        return cls(frozenset(known - current), tuple(added), definitions)

    @classmethod
    def at(
        cls,
        before: Sequence[bytes],
        known: Set[bytes],
        after: Sequence[bytes],
        moved: list[int],
        limit: int | None = None,
    ) -> RouteChanges | None:
        """`between` for routes `after` as many as `before`, that differ from them at the
        positions `moved` (ascending) and only there: found by comparing them in
        place, or already while reading them (`config/entries.pyx`)."""
        if limit is not None and len(moved) > limit:
            return None
        gone = {before[i]: before[i] for i in moved}
        new = {after[i]: i for i in moved}
        if len(new) != len(moved):
            return None
        # An unchanged position holds the same definition on both sides, so a route
        # that only moved is among `moved` on both; what is new and also `known`
        # must be a copy of a route left where it was.
        added = sorted(i for definition, i in new.items() if definition not in gone)
        if any(after[i] in known for i in added):
            return None
        definitions = list(before)
        for i in moved:
            definitions[i] = gone.get(after[i], after[i])
        return cls(frozenset(gone.keys() - new.keys()), tuple(added), definitions)

    def __len__(self) -> int:
        """How many routes changed: those gone and those new (a route redefined counts twice)."""
        return len(self.removed) + len(self.added)

    def __repr__(self) -> str:
        return f"<RouteChanges removed={len(self.removed)} added={len(self.added)}>"
