"""What a swap leaves behind: the old config, freed by reference counting a piece at a time.

The worker freezes the new config instead of collecting the whole heap on every
swap, which is only sound if a compiled config holds no reference cycles: otherwise
every old config would stay in memory for good. These tests hold that, with the
collector switched off, and that dismantling a table drops only its own containers.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fleetgate_pb import config_pb2 as pb

from data_plane.config.model import GatewayConfig
from data_plane.config.snapshot import build_snapshot
from data_plane.metrics import WorkerMetrics
from data_plane.routing.table import _Entry
from data_plane.runtime import RoutePlan, compile_snapshot
from data_plane.settings import Limits
from data_plane.worker import no_full_collections


def snapshot(version: int, routes: int = 300) -> pb.Snapshot:
    document: dict[str, Any] = {
        "services": [
            {"name": f"svc-{s}", "targets": [{"address": f"127.0.0.1:{20000 + s}"}]}
            for s in range(5)
        ],
        "routes": [
            {
                "name": f"r{r}",
                "paths": [
                    f"/v{version}/exact-{r}",
                    f"/v{version}/team-{r % 7}/svc-{r}/**",
                    f"/v{version}/*/items-{r}",
                    f"~/v{version}/re-{r}/[0-9]+",
                ],
                "hosts": ["api.example.com", f"*.t{r % 3}.example.com"] if r % 2 else [],
                "headers": [{"name": "x-team", "value": "a"}] if r % 5 == 0 else [],
                "service": f"svc-{r % 5}",
            }
            for r in range(routes)
        ],
    }
    return build_snapshot(GatewayConfig.model_validate(document), version=version)


def count(kind: type) -> int:
    return sum(1 for item in gc.get_objects() if type(item) is kind)


@pytest.fixture
def collector_off() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def test_an_old_config_is_freed_without_the_cycle_collector(collector_off: None) -> None:
    metrics, limits = WorkerMetrics(), Limits()
    before = count(_Entry)  # entries other tests still hold
    old = compile_snapshot(snapshot(1), limits=limits, metrics=metrics)
    entries = count(_Entry) - before
    assert entries > 300
    new = compile_snapshot(snapshot(2), limits=limits, metrics=metrics, previous=old)
    assert count(_Entry) - before == 2 * entries
    del old
    # Nothing but reference counting ran: every entry of the old config is gone.
    assert count(_Entry) - before == entries
    assert new.table.match("GET", "api.example.com", "/v2/exact-1") is not None


def test_dismantling_a_table_frees_it_in_pieces_and_keeps_what_others_hold(
    collector_off: None,
) -> None:
    metrics, limits = WorkerMetrics(), Limits()
    before = count(_Entry)
    config = compile_snapshot(snapshot(1), limits=limits, metrics=metrics)
    found = config.table.match("GET", "x.t1.example.com", "/v1/team-1/svc-1/a/b")
    assert found is not None and not isinstance(found, type(None))
    held = found.route  # an exchange in flight holds its route's plan
    entries = count(_Entry) - before
    steps = sum(1 for _ in config.table.dismantle(pieces=50))
    assert steps >= entries // 50 // 4  # many small steps, not one big one
    assert count(_Entry) == before
    assert config.table.match("GET", "x.t1.example.com", "/v1/team-1/svc-1/a/b") is None
    assert isinstance(held, RoutePlan) and held.name == "r1"


def test_dismantling_a_table_leaves_alone_what_a_kept_table_shares() -> None:
    metrics, limits = WorkerMetrics(), Limits()
    old = compile_snapshot(snapshot(1), limits=limits, metrics=metrics)
    # Nothing changed: the new table shares every bucket with the old one, and only the
    # old one's own key maps and rank list go, a step each.
    new = compile_snapshot(snapshot(1), limits=limits, metrics=metrics, previous=old)
    assert sum(1 for _ in old.table.dismantle(keep=(new.table, None))) <= 3
    assert old.table.match("GET", "api.example.com", "/v1/exact-7") is not None
    assert new.table.match("GET", "api.example.com", "/v1/exact-7") is not None
    assert len(new.table.definitions()) == len(snapshot(1).routes)
    del old
    # Every route changed: a full compile, sharing no container with its predecessor.
    moved = compile_snapshot(snapshot(2), limits=limits, metrics=metrics, previous=new)
    assert sum(1 for _ in new.table.dismantle(keep=(moved.table,))) > 0
    assert new.table.match("GET", "api.example.com", "/v1/exact-7") is None
    for r in (r for r in range(0, 300, 7) if r % 5):
        found = moved.table.match("GET", "api.example.com", f"/v2/exact-{r}")
        assert found is not None and found.name == f"r{r}"  # type: ignore[union-attr]


def test_a_retired_config_lets_go_of_its_records_and_the_next_one_keeps_its_own() -> None:
    metrics, limits = WorkerMetrics(), Limits()
    old = compile_snapshot(snapshot(1), limits=limits, metrics=metrics)
    changed = snapshot(1)
    [r3] = [route for route in changed.routes if route.name == "r3"]
    r3.paths.append("/v1/one-more")
    new = compile_snapshot(changed, limits=limits, metrics=metrics, previous=old)
    assert sum(1 for _ in old.retire(keep=(new.table, None))) >= 3
    assert old.plans == {} and old.checks is None
    # The new config still answers, and the next change is still compiled from it
    # reusing every plan it can.
    assert new.table.match("GET", "api.example.com", "/v1/one-more") is not None
    again = pb.Snapshot()
    again.CopyFrom(changed)
    again.routes[0].paths.append("/v1/another")
    latest = compile_snapshot(again, limits=limits, metrics=metrics, previous=new)
    reused = sum(1 for key, plan in latest.plans.items() if new.plans.get(key) is plan)
    assert reused == len(again.routes) - 1


def full_collections_during(compile: Callable[[], object]) -> int:
    seen: list[int] = []

    def watch(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            seen.append(info["generation"])

    gc.callbacks.append(watch)
    try:
        compile()
    finally:
        gc.callbacks.remove(watch)
    return seen.count(2)


def test_a_compile_in_a_worker_runs_no_full_collection() -> None:
    metrics, limits = WorkerMetrics(), Limits()
    big = snapshot(1, routes=1500)
    gc.collect()
    gc.freeze()  # as a worker is after a swap: the running config frozen
    try:
        before = gc.get_threshold()
        with no_full_collections():
            quiet = full_collections_during(
                lambda: compile_snapshot(big, limits=limits, metrics=metrics)
            )
        assert gc.get_threshold() == before
        noisy = full_collections_during(
            lambda: compile_snapshot(big, limits=limits, metrics=metrics)
        )
    finally:
        gc.unfreeze()
    assert quiet == 0
    assert noisy > 0  # what the worker avoids


def test_overlapping_compiles_put_the_collector_back_when_the_last_ends() -> None:
    before = gc.get_threshold()
    switch = sys.getswitchinterval()
    first, second = no_full_collections(), no_full_collections()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    assert gc.get_threshold()[2] > before[2]  # the second compile still runs
    assert sys.getswitchinterval() <= 0.001
    second.__exit__(None, None, None)
    assert gc.get_threshold() == before
    assert sys.getswitchinterval() == switch
