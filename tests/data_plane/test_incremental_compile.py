"""A table compiled from its predecessor equals one compiled from nothing.

Random sequences of changes (a route added, removed, renamed, moved to other paths,
hosts, methods, headers or priority) are compiled both ways after every step, and the
two tables must hold the same entries in the same ranks and answer probe requests alike.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from fleetgate_pb import config_pb2 as pb

from data_plane.routing import table as table_module
from data_plane.routing.table import RouteTable, _Bucket, _Entry, _Node

PATHS = ["/a", "/a/b", "/a/*", "/a/**", "/**", "/b/*/c", "/b/**", "~/r/[0-9]+", "/c/*/d/**"]
HOSTS = ["api.example.com", "*.example.com", "other.test"]
METHODS = ["GET", "POST", "DELETE"]


def random_route(rng: random.Random, name: str) -> pb.Route:
    route = pb.Route(
        name=name,
        paths=rng.sample(PATHS, rng.randint(1, 3)),
        hosts=rng.sample(HOSTS, rng.randint(0, 2)),
        methods=rng.sample(METHODS, rng.randint(0, 2)),
        priority=rng.choice([0, 0, 1, -1]),
        service="app",
    )
    route.strip_prefix = rng.random() < 0.3 and not any(p.startswith("~") for p in route.paths)
    if rng.random() < 0.2:
        route.headers.add(name="x-team", value=rng.choice(["a", "b"]))
    return route


def entries(table: RouteTable[Any]) -> list[tuple[object, ...]]:
    """Every entry of `table` in rank order, its rank replaced by its place in that order
    (an incremental compile spaces ranks differently), checking the index's shape: lists
    best first, no bucket outranking its `top_rank`, no empty bucket or trie node."""
    found: list[tuple[str, _Entry[Any]]] = []
    for bucket in table._hosts.buckets():
        assert isinstance(bucket, _Bucket)
        listed_in_bucket: list[list[_Entry[Any]]] = [*bucket.exact.values(), bucket.regexes]
        stack: list[_Node[Any]] = [bucket.trie] if bucket.trie is not None else []
        while stack:
            node = stack.pop()
            assert node.children or node.star or node.rest or node.end
            listed_in_bucket += [node.rest, node.end]
            stack.extend(node.children.values())
            if node.star is not None:
                stack.append(node.star)
        assert any(listed_in_bucket)
        for listed in listed_in_bucket:
            ranks = [e.rank for e in listed]
            assert ranks == sorted(ranks, reverse=True)
            assert all(rank <= bucket.top_rank for rank in ranks)
            found += [(repr(bucket), e) for e in listed]
    found.sort(key=lambda item: item[1].rank)
    assert [e for _, e in found] == table._ranked or not table._ranked
    return [
        (place, e.name, e.payload, e.pattern.source, e.methods, e.forward.kind, e.conditions)
        for place, (_, e) in enumerate(found)
    ]


def probes(rng: random.Random) -> list[tuple[str, str, str, dict[str, str]]]:
    paths = ["/a", "/a/b", "/a/x", "/a/x/y", "/b/1/c", "/b/z", "/r/42", "/c/1/d/e", "/zz"]
    hosts = ["api.example.com", "x.example.com", "other.test", "none.test"]
    return [
        (rng.choice(METHODS), rng.choice(hosts), rng.choice(paths), {"x-team": rng.choice("ab")})
        for _ in range(60)
    ]


def answer(table: RouteTable[Any], probe: tuple[str, str, str, dict[str, str]]) -> object:
    found = table.match(*probe)
    return found if found is None else repr(found)


def test_random_change_sequences_compile_the_same_both_ways() -> None:
    rng = random.Random(20261202)
    for _ in range(20):
        routes = {f"r{i}": random_route(rng, f"r{i}") for i in range(12)}
        previous: RouteTable[Any] | None = None
        for step in range(25):
            action = rng.random()
            name = rng.choice(sorted(routes))
            if action < 0.2 and len(routes) > 1:
                del routes[name]
            elif action < 0.4:
                new = f"n{step}"
                routes[new] = random_route(rng, new)
            else:
                routes[name] = random_route(rng, name)
            listed = [(route, f"payload-of-{name}") for name, route in sorted(routes.items())]
            rng.shuffle(listed)
            incremental = RouteTable.compile(listed, previous)
            scratch = RouteTable.compile(listed)
            assert entries(incremental) == entries(scratch)
            for probe in probes(rng):
                assert answer(incremental, probe) == answer(scratch, probe)
            previous = incremental


def test_an_unchanged_route_reuses_its_compiled_patterns() -> None:
    first = RouteTable.compile([(pb.Route(name="r", paths=["~/r/[0-9]+"], service="s"), 1)])
    second = RouteTable.compile([(pb.Route(name="r", paths=["~/r/[0-9]+"], service="s"), 2)], first)
    (parts_first,) = first._parts.values()
    (parts_second,) = second._parts.values()
    assert parts_first is parts_second
    found = second.match("GET", "h", "/r/7")
    assert found is not None and found.route == 2  # type: ignore[union-attr]


def _patterns(table: RouteTable[Any]) -> dict[str, object]:
    """Each path of `table`'s routes, by its text: the compiled pattern."""
    return {
        pattern.source: pattern
        for parts in table._parts.values()
        for _, _, pattern, _ in parts.places
    }


def test_a_changed_route_reuses_the_paths_it_keeps() -> None:
    """A route redefined (another service, methods added) but keeping its paths is
    compiled anew, its regex and path patterns taken from the table before."""
    paths = ["~/r/[0-9]+", "/a/*/b"]
    first = RouteTable.compile([(pb.Route(name="r", paths=paths, service="s"), 1)])
    changed = pb.Route(name="r", paths=[*paths, "/c"], methods=["GET"], service="t")
    second = RouteTable.compile([(changed, 2)], first)
    (parts_first,) = first._parts.values()
    (parts_second,) = second._parts.values()
    assert parts_first is not parts_second
    kept, now = _patterns(first), _patterns(second)
    assert all(now[path] is kept[path] for path in paths)
    found = second.match("GET", "h", "/r/7")
    assert found is not None and found.route == 2  # type: ignore[union-attr]


def test_routes_sharing_a_path_share_its_compiled_pattern() -> None:
    routes = [
        (pb.Route(name=name, paths=["~/r/[0-9]+"], hosts=[host], service="s"), name)
        for name, host in (("a", "a.test"), ("b", "b.test"))
    ]
    table = RouteTable.compile(routes)
    (first, second) = table._parts.values()
    assert first.places[0][2] is second.places[0][2]


def test_the_compiled_paths_kept_never_outgrow_one_table() -> None:
    """A full compile keeps the compiled paths its routes use, not those of the table
    before; an incremental one looks them up without adding to them."""

    def routes(prefix: str, service: str = "s") -> list[tuple[pb.Route, int]]:
        return [
            (pb.Route(name=f"r{i}", paths=[f"/{prefix}/{i}/*"], service=service), i)
            for i in range(100)
        ]

    first = RouteTable.compile(routes("old"))
    second = RouteTable.compile(routes("new"), first)  # every route changed: in full
    assert {key[0] for key in second._patterns} == {f"/new/{i}/*" for i in range(100)}
    moved = routes("new")
    moved[0] = (pb.Route(name="r0", paths=["/moved/*"], service="s"), 0)
    third = RouteTable.compile(moved, second)
    assert third._lineage is second._lineage  # compiled incrementally
    assert third._patterns.keys() == second._patterns.keys()
    fourth = RouteTable.compile(routes("new", "t"), third)  # in full again, same paths
    assert {key[0] for key in fourth._patterns} == {f"/new/{i}/*" for i in range(100)}
    assert all(fourth._patterns[key][0] is second._patterns[key][0] for key in fourth._patterns)


def test_a_used_up_rank_gap_respaces_the_entries_around_it() -> None:
    """Each route below lands between the last one and route "a": the gap between two
    ranks halves each time, until the entries around it are spaced out anew, as copies
    (the table before still serves with its own ranks), without a full compile."""
    routes = [(pb.Route(name=name, paths=["/x/*"], service="s"), name) for name in ("a", "b")]
    table: RouteTable[Any] = RouteTable.compile(routes)
    first = table
    for k in range(1, 60):
        name = "a" * k + "b"
        routes.append((pb.Route(name=name, paths=["/x/*"], service="s"), name))
        before = [(entry, entry.rank) for entry in table._ranked]
        table = RouteTable.compile(routes, table)
        assert all(entry.rank == rank for entry, rank in before)
        assert table._lineage is first._lineage
        assert entries(table) == entries(RouteTable.compile(routes))
        found = table.match("GET", "h", "/x/1")
        assert found is not None and found.name == "a"  # type: ignore[union-attr]


def test_random_change_sequences_with_crowded_ranks_compile_the_same_both_ways(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With ranks 4 apart nearly every change uses up a gap: respaced, or compiled in
    full when the entries to respace would be more than RESPACED_ENTRIES."""
    monkeypatch.setattr(table_module, "RANK_SPACING", 4)
    monkeypatch.setattr(table_module, "RESPACED_ENTRIES", 6)
    test_random_change_sequences_compile_the_same_both_ways()


def test_a_big_change_compiles_the_table_in_full() -> None:
    routes = [(pb.Route(name=f"r{i}", paths=[f"/r/{i}"], service="s"), i) for i in range(10)]
    table: RouteTable[Any] = RouteTable.compile(routes)
    moved = [(pb.Route(name=f"m{i}", paths=[f"/m/{i}"], service="s"), i) for i in range(200)]
    assert RouteTable.compile(moved, table)._lineage is not table._lineage
