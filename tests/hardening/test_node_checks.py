"""A node runs the control plane's checks on every snapshot it loads: from the stream,
from its disk cache, from a file. A self-consistent crafted snapshot is refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from fleetgate_pb import config_pb2 as pb

from data_plane.config.errors import ConfigInvalid
from data_plane.config.snapshot import content_hash
from data_plane.metrics import WorkerMetrics
from data_plane.runtime import compile_snapshot
from data_plane.settings import Limits
from data_plane.sync.cache import SnapshotDiskCache
from tests.conftest import free_port
from tests.sync.fleet import Node, running, until


def crafted(**route: object) -> pb.Snapshot:
    """A snapshot nobody checked, with a hash that matches its content."""
    snapshot = pb.Snapshot(
        version=7,
        services=[pb.Service(name="svc", targets=[pb.Target(address="127.0.0.1:9", weight=1)])],
        routes=[pb.Route(**{"name": "r", "paths": ["/**"], "service": "svc", **route})],
    )
    snapshot.hash = content_hash(snapshot)
    return snapshot


def compiled(snapshot: pb.Snapshot) -> object:
    return compile_snapshot(snapshot, limits=Limits(), metrics=WorkerMetrics())


@pytest.mark.parametrize(
    ("route", "reason"),
    [
        ({"response_headers": pb.HeaderChanges(set={"Content-Length": "0"})}, "gateway"),
        ({"request_headers": pb.HeaderChanges(add={"Host": "evil"})}, "gateway"),
        ({"request_headers": pb.HeaderChanges(add={"X-A\n": "v"})}, "header name"),
        ({"response_headers": pb.HeaderChanges(set={"x-a": "1\r\nX-B: 2"})}, "control"),
        ({"paths": ["~/(a)\\1"]}, "linear time"),
        ({"hosts": ["a.com\n"]}, "host"),
    ],
)
def test_compiling_a_snapshot_runs_every_check_of_the_control_plane(
    route: dict[str, object], reason: str
) -> None:
    with pytest.raises(ConfigInvalid, match=reason):
        compiled(crafted(**route))


def test_compiling_refuses_a_target_address_that_would_inject_a_header() -> None:
    snapshot = crafted()
    snapshot.services[0].targets[0].address = "127.0.0.1:9\r\nX-Injected: 1"
    with pytest.raises(ConfigInvalid, match="address"):
        compiled(snapshot)


@pytest.mark.e2e
def test_a_node_does_not_serve_a_crafted_cache(tmp_path: Path) -> None:
    evil = crafted(response_headers=pb.HeaderChanges(set={"Content-Length": "0"}))
    node = Node(tmp_path, "edge-crafted", [f"127.0.0.1:{free_port()}"])
    SnapshotDiskCache(node.cache_dir).write(evil.SerializeToString())
    with running(node):
        node.start()
        until(lambda: "cannot be applied" in node.log_tail(), "the cache to be refused")
        assert "belongs to the gateway" in node.log_tail()
        assert not node.ready()


@pytest.mark.e2e
def test_a_node_serves_a_sound_cache(tmp_path: Path) -> None:
    """The same start with a sound snapshot: the refusal above is the checks' doing."""
    node = Node(tmp_path, "edge-sound", [f"127.0.0.1:{free_port()}"])
    SnapshotDiskCache(node.cache_dir).write(crafted().SerializeToString())
    with running(node):
        node.start()
        node.wait_ready()
