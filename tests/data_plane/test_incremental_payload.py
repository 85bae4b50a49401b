"""A snapshot compiled from its payload, as a worker does, equals one compiled from nothing.

A worker reads a payload as a `SnapshotView`: a change to a few routes parses those
routes alone, and a compile that turns long reads the rest from the whole snapshot.
Random change sequences (some of them refused by the checks) are compiled that way
from the config before, and from the parsed snapshot with no config before: the plans
and the table's answers must be the same, and so must the errors.
"""

from __future__ import annotations

import random
from typing import cast

import pytest
from fleetgate_pb import config_pb2 as pb
from google.protobuf.message import DecodeError

from data_plane import runtime
from data_plane.config.errors import ConfigInvalid
from data_plane.limits.policy import Limiters
from data_plane.metrics import WorkerMetrics
from data_plane.runtime import (
    Definitions,
    RuntimeConfig,
    SnapshotView,
    Work,
    compile_payload,
    compile_snapshot,
    compile_steps,
    finish,
)
from data_plane.settings import Limits

from .test_incremental_plans import World, plans_of


def in_order(world: World, version: int) -> pb.Snapshot:
    """The world's snapshot with its routes in a stable order, as a control plane keeps
    them: a change then leaves the other routes where they were."""
    snapshot = world.snapshot(version)
    del snapshot.routes[:]
    snapshot.routes.extend(world.routes.values())
    return snapshot


@pytest.mark.parametrize("read", ["entries.pyx", "in full"])
def test_random_change_sequences_compile_the_same_from_payloads(
    read: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if read == "in full":
        monkeypatch.setattr(runtime, "_entries", None)
    else:
        assert runtime._entries is not None, "config/entries.pyx is not built"
    rng = random.Random(20261204)
    limits, metrics, limiters = Limits(), WorkerMetrics(), Limiters.private()
    short = refused = 0
    for _ in range(10):
        world = World(rng)
        previous: RuntimeConfig | None = None
        for step in range(25):
            world.change()
            snapshot = in_order(world, step + 1)
            if rng.random() < 0.15:  # a changed route claiming another's name
                snapshot.routes[-1].name = snapshot.routes[0].name
            payload = snapshot.SerializeToString(deterministic=True)
            steps = compile_payload(
                payload, limits=limits, metrics=metrics, previous=previous, limiters=limiters
            )
            works: list[Work] = []
            try:
                while True:
                    works.append(next(steps))
            except StopIteration as done:
                incremental: RuntimeConfig | None = done.value
            except ConfigInvalid as exc:
                with pytest.raises(ConfigInvalid) as full:
                    compile_snapshot(snapshot, limits=limits, metrics=metrics, limiters=limiters)
                assert exc.errors == full.value.errors
                refused += 1
                continue
            assert incremental is not None
            short += Work.LONG not in works
            scratch = compile_snapshot(snapshot, limits=limits, metrics=metrics, limiters=limiters)
            assert plans_of(incremental) == plans_of(scratch)
            for route in snapshot.routes:
                for path in (f"/{route.name}/a/x", f"/{route.name}/b/x"):
                    found = incremental.table.match("GET", "h", path)
                    expected = scratch.table.match("GET", "h", path)
                    assert repr(found and found.name) == repr(expected and expected.name)  # type: ignore[union-attr]
            previous = incremental
    assert short > 100 and refused > 10  # both paths were exercised


def test_a_one_route_change_parses_that_route_alone() -> None:
    world = World(random.Random(3))
    limits, metrics = Limits(), WorkerMetrics()
    first = in_order(world, 1)
    config = compile_snapshot(first, limits=limits, metrics=metrics)
    name = sorted(world.routes)[5]
    world.routes[name].paths[:] = [f"/{name}/moved/**"]
    second = in_order(world, 2)
    view = SnapshotView(second.SerializeToString(deterministic=True))
    assert view.definitions == Definitions.of(second)
    assert (view.version, view.hash, list(view.services)) == (2, "h2", list(second.services))
    steps = compile_steps(
        cast(pb.Snapshot, view),
        limits=limits,
        metrics=metrics,
        previous=config,
        serialized=view.definitions,
    )
    works: list[Work] = []
    try:
        while True:
            works.append(next(steps))
    except StopIteration as done:
        changed: RuntimeConfig = done.value
    assert Work.LONG not in works
    parsed = view.routes._parsed  # type: ignore[attr-defined]
    assert [route.name for route in parsed.values()] == [name]
    assert changed.table.match("GET", "h", f"/{name}/moved/x").name == name  # type: ignore[union-attr]


def test_a_view_made_whole_reads_the_whole_snapshot() -> None:
    snapshot = in_order(World(random.Random(4)), 7)
    view = SnapshotView(snapshot.SerializeToString(deterministic=True))
    assert view.routes[-1] == snapshot.routes[-1] and view.routes[:2] == snapshot.routes[:2]
    view.whole()
    assert type(view.routes) is type(snapshot.routes) and view.routes == snapshot.routes
    assert view.services == snapshot.services and view.consumers == snapshot.consumers
    assert (
        finish(
            compile_payload(
                snapshot.SerializeToString(deterministic=True),
                limits=Limits(),
                metrics=WorkerMetrics(),
            )
        ).version
        == 7
    )


def test_entries_read_in_place_are_the_payloads_and_reuse_the_equal_ones() -> None:
    entries = runtime._entries
    assert entries is not None, "config/entries.pyx is not built"
    rng = random.Random(11)
    world = World(rng)
    before = list(pb.SnapshotEntities.FromString(in_order(world, 1).SerializeToString()).routes)
    for step in range(300):
        world.change()
        snapshot = in_order(world, step + 2)
        if rng.random() < 0.2:
            snapshot.routes.append(pb.Route(name=f"extra{step}", service="app"))
        if rng.random() < 0.1:
            del snapshot.routes[rng.randrange(len(snapshot.routes))]
        payload = snapshot.SerializeToString(deterministic=True)
        found = entries(payload, pb.Snapshot.ROUTES_FIELD_NUMBER, before)
        assert found is not None
        routes, moved = found
        expected = list(pb.SnapshotEntities.FromString(payload).routes)
        assert routes == expected
        differ = [i for i, old in enumerate(before[: len(routes)]) if routes[i] != old]
        assert moved == differ
        kept = [i for i in range(min(len(before), len(routes))) if i not in set(differ)]
        assert all(routes[i] is before[i] for i in kept)
        before = routes
    # What is not a message read this way is left to the parser, which says what is wrong.
    payload = in_order(world, 1).SerializeToString()
    assert entries(payload[:-1], pb.Snapshot.ROUTES_FIELD_NUMBER, before) is None
    assert entries(payload + b"\x0b", pb.Snapshot.ROUTES_FIELD_NUMBER, before) is None  # a group
    assert entries(payload + b"\x80", pb.Snapshot.ROUTES_FIELD_NUMBER, before) is None  # cut varint
    assert entries(b"", pb.Snapshot.ROUTES_FIELD_NUMBER, before) == ([], [])


def test_a_view_checked_against_the_one_before_refuses_what_the_whole_parse_refuses() -> None:
    rng = random.Random(12)
    world = World(rng)
    first = in_order(world, 1).SerializeToString(deterministic=True)
    before = SnapshotView.checked(first).definitions.routes
    refusals = 0
    for step in range(200):
        world.change()
        snapshot = in_order(world, step + 2)
        payload = snapshot.SerializeToString(deterministic=True)
        damage = rng.random()
        if damage < 0.5:
            # A byte of a route or a service made invalid UTF-8 in place: the framing
            # holds, and only parsing that entity finds it.
            entity = rng.choice([*snapshot.routes, *snapshot.services])
            name = entity.name.encode()
            at = payload.find(b"\n" + bytes([len(name)]) + name) + 2
            payload = payload[:at] + b"\xff" + payload[at + 1 :]
        try:
            whole = pb.Snapshot.FromString(payload)
        except DecodeError as refused:
            with pytest.raises(DecodeError) as checked:
                SnapshotView.checked(payload, before)
            assert str(checked.value) == str(refused)
            refusals += 1
            continue
        view = SnapshotView.checked(payload, before)
        assert (view.version, view.hash) == (whole.version, whole.hash)
        assert list(view.services) == list(whole.services)
        assert list(view.routes) == list(whole.routes)
        assert view.snapshot() == whole
        before = view.definitions.routes
    assert refusals > 50


def test_a_view_checked_with_most_routes_changed_is_parsed_whole() -> None:
    """Routes parsed one by one cost more than a whole parse once many changed."""
    world = World(random.Random(5))
    for i in range(200):
        world.routes[f"m{i}"] = pb.Route(name=f"m{i}", paths=[f"/m{i}/**"], service="app")
    first = in_order(world, 1)
    before = SnapshotView.checked(first.SerializeToString(deterministic=True))
    for route in world.routes.values():
        route.max_body_bytes += 1
    second = SnapshotView.checked(
        in_order(world, 2).SerializeToString(deterministic=True), before.definitions.routes
    )
    assert isinstance(second._whole, pb.Snapshot)
    assert list(second.routes) == list(in_order(world, 2).routes)
    world.routes["m7"].max_body_bytes += 1
    third = SnapshotView.checked(
        in_order(world, 3).SerializeToString(deterministic=True), second.definitions.routes
    )
    assert third._whole is False and third.routes[7 + 14].name == "m7"


def test_the_entities_message_holds_every_field_of_the_snapshot() -> None:
    # A view reads every field but the services and routes from SnapshotEntities: a
    # field added to Snapshot alone would read as missing there, and the compile of a
    # one-route change would go wrong. Same number, name and type; services and routes
    # as their bytes.
    whole = pb.Snapshot.DESCRIPTOR.fields_by_number
    entities = pb.SnapshotEntities.DESCRIPTOR.fields_by_number
    assert whole.keys() == entities.keys()
    for number, field in whole.items():
        mirror = entities[number]
        assert (mirror.name, mirror.is_repeated) == (field.name, field.is_repeated), field.name
        if field.name in ("services", "routes"):
            assert mirror.type == mirror.TYPE_BYTES
        else:
            assert mirror.type == field.type, field.name
            assert mirror.message_type is field.message_type, field.name


def test_a_view_reads_every_field_as_the_whole_snapshot() -> None:
    snapshot = in_order(World(random.Random(9)), 12)
    snapshot.author, snapshot.created_at_ms = "ops", 1_700_000_000_000
    snapshot.required_capabilities.append("rate_limit")
    view = SnapshotView(snapshot.SerializeToString(deterministic=True))
    for field in pb.Snapshot.DESCRIPTOR.fields:
        read = getattr(view, field.name)
        expected = getattr(snapshot, field.name)
        if field.is_repeated:
            assert list(read) == list(expected), field.name
        else:
            assert read == expected, field.name
