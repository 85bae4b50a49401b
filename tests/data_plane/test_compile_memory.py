"""What a worker's config keeps in memory across changes.

A worker holds its config for as long as it serves it, and compiles the next one beside
it. Memory that a change leaves behind (a second copy of something, a table held twice)
stays with the worker: its resident size keeps the highest point a compile reached, even
once the old config is freed. These tests bound what one-route changes allocate, with
tracemalloc, and check that nothing is kept twice.
"""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Iterator

import pytest
from fleetgate_pb import config_pb2 as pb

from data_plane.metrics import WorkerMetrics
from data_plane.runtime import RuntimeConfig, compile_snapshot
from data_plane.settings import Limits

ROUTES = 1000


def snapshot(routes: int = ROUTES) -> pb.Snapshot:
    """`routes` routes over 10 services, prefixes and exact paths."""
    return pb.Snapshot(
        version=1,
        services=[
            pb.Service(name=f"svc-{s}", targets=[pb.Target(address=f"127.0.0.1:{20000 + s}")])
            for s in range(10)
        ],
        routes=[
            pb.Route(
                name=f"route-{r}",
                paths=[f"/api/team-{r % 7}/svc-{r}/**" if r % 2 else f"/static/{r}/index.html"],
                service=f"svc-{r % 10}",
            )
            for r in range(routes)
        ],
    )


def move(config: pb.Snapshot, r: int, where: str) -> None:
    """Route `r` moved to the path prefix `where`, as a new version."""
    route = config.routes[r]
    del route.paths[:]
    route.paths.append(f"{where}/**")
    config.version += 1


class Worker:
    """A worker's compiles, each from the config it serves, which it then replaces."""

    def __init__(self) -> None:
        self.metrics = WorkerMetrics()
        self.limits = Limits()
        self.config: RuntimeConfig | None = None

    def apply(self, snapshot: pb.Snapshot) -> RuntimeConfig:
        self.config = compile_snapshot(
            snapshot, limits=self.limits, metrics=self.metrics, previous=self.config
        )
        return self.config


@pytest.fixture
def traced() -> Iterator[None]:
    gc.collect()
    tracemalloc.start()
    try:
        yield
    finally:
        tracemalloc.stop()


def test_one_route_changes_landing_at_one_place_never_build_a_second_table(
    traced: None,
) -> None:
    """Each change moves the next route under /moved, where every moved route's entry
    lands beside the last one's: the rank gap there halves each time. The table makes
    room around the gap instead of compiling anew, so no change allocates anything
    like a second config, and the worker's memory stays where the first change left it."""
    config = snapshot()
    worker = Worker()
    before = tracemalloc.get_traced_memory()[0]
    worker.apply(config)
    size = tracemalloc.get_traced_memory()[0] - before
    move(config, 1, "/moved/1")
    worker.apply(config)
    after_first = tracemalloc.get_traced_memory()[0]
    tracemalloc.reset_peak()
    for r in range(3, 123, 2):  # 60 changes, more than twice what a rank gap allows
        move(config, r, f"/moved/{r}")
        worker.apply(config)
    current, peak = tracemalloc.get_traced_memory()
    assert peak - after_first < size / 4
    assert current - after_first < size / 20


def test_the_plans_checks_and_table_share_each_route_key() -> None:
    """A change to 70 of 100 routes is too big for the plans and the table to take
    incrementally, and small enough for the checks to: still, one bytes object per
    route key, not one in the checks and an equal one in the plans and the table."""
    config = snapshot(100)
    worker = Worker()
    worker.apply(config)
    for r in range(70):
        move(config, r, f"/moved/{r}")
    compiled = worker.apply(config)
    assert compiled.checks is not None
    plans = {id(key) for key in compiled.plans}
    assert {id(key) for key in compiled.checks.routes} == plans
    assert {id(key) for key in compiled.table.definitions()} == plans
