"""Which routes changed between two snapshots, and the bytes a compile keys them by.

`RouteChanges.between` compares definitions at the same position when the counts agree
and hashes both sides otherwise; random edits (a route redefined, two swapped, one
inserted, deleted, or made a copy of another) must give what plain sets say either way.
The changes hold the new definitions as the previous snapshot's objects where they are
equal, so that records kept across compiles hold one copy of each key.
`Definitions.read` takes each entity's bytes as they lie in a payload: for a payload
serialized deterministically, the bytes serializing each entity gives.
"""

from __future__ import annotations

import random

from fleetgate_pb import config_pb2 as pb

from data_plane.config.changes import RouteChanges
from data_plane.runtime import Definitions


def by_sets(before: list[bytes], after: list[bytes]) -> tuple[frozenset[bytes], tuple[int, ...]]:
    old = set(before)
    added = tuple(i for i, definition in enumerate(after) if definition not in old)
    return frozenset(old - set(after)), added


def edited(rng: random.Random, before: list[bytes], fresh: list[int]) -> list[bytes]:
    after = [bytes(bytearray(definition)) for definition in before]  # equal, not the same
    for _ in range(rng.randint(0, 4)):
        kind = rng.random()
        fresh[0] += 1
        new = b"new-%d" % fresh[0]
        if kind < 0.3 and after:
            after[rng.randrange(len(after))] = new
        elif kind < 0.45 and len(after) > 1:
            i, j = rng.sample(range(len(after)), 2)
            after[i], after[j] = after[j], after[i]
        elif kind < 0.6:
            after.insert(rng.randint(0, len(after)), new)
        elif kind < 0.75 and after:
            del after[rng.randrange(len(after))]
        elif kind < 0.85 and len(after) > 1:
            i, j = rng.sample(range(len(after)), 2)
            after[i] = after[j]
        elif before and after:
            after[rng.randrange(len(after))] = bytes(bytearray(rng.choice(before)))
    return after


def test_changes_found_in_place_or_by_hashing_are_what_sets_say() -> None:
    rng = random.Random(18)
    fresh = [0]
    in_place = duplicates = 0
    for _ in range(2000):
        before = [b"route-%d" % i for i in rng.sample(range(100), rng.randint(0, 12))]
        after = edited(rng, before, fresh)
        changes = RouteChanges.between(before, set(before), after)
        if len(set(after)) != len(after):
            assert changes is None
            duplicates += 1
            continue
        assert changes is not None
        assert (changes.removed, changes.added) == by_sets(before, after)
        assert changes.definitions == after
        kept = {id(definition) for definition in before}
        assert all(id(d) in kept for d in changes.definitions if d in before)
        assert len(changes) == len(changes.removed) + len(changes.added)
        in_place += len(before) == len(after)
    assert in_place > 500 and duplicates > 100


def test_a_route_redefined_in_place_is_one_removed_and_one_added() -> None:
    before = [b"a", b"b", b"c"]
    changes = RouteChanges.between(before, set(before), [b"a", b"B", b"c"])
    assert changes is not None
    assert changes.removed == {b"b"} and changes.added == (1,)


def test_a_payload_serialized_deterministically_holds_each_entity_as_serialized() -> None:
    snapshot = pb.Snapshot(version=3)
    snapshot.services.add(name="app").targets.add(address="127.0.0.1:8000")
    for i in range(20):
        route = snapshot.routes.add(name=f"r{i}", paths=[f"/r/{i}/**"], service="app")
        for name in ("x-b", "x-a", "x-c"):  # maps: deterministic serialization sorts them
            route.request_headers.set[f"{name}-{i}"] = "1"
        route.transform.add_query[f"q{i}"] = "v"
    payload = snapshot.SerializeToString(deterministic=True)
    assert Definitions.read(payload) == Definitions.of(pb.Snapshot.FromString(payload))


def test_more_new_routes_than_the_limit_are_not_listed_one_by_one() -> None:
    before = [b"route-%d" % i for i in range(10)]
    in_place = [b"new-%d" % i for i in range(3)] + before[3:]
    inserted = [*before, b"new-a", b"new-b", b"new-c"]
    for after in (in_place, inserted):
        assert RouteChanges.between(before, set(before), after, limit=2) is None
        changes = RouteChanges.between(before, set(before), after, limit=3)
        assert changes is not None and len(changes.added) == 3
