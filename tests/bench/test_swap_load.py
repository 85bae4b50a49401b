"""The swap-under-load bench's own logic: one route per change, the lag read off buckets."""

from __future__ import annotations

from fleetgate_pb import config_pb2

from bench.sync.swap_load import PATH, Releases, _lag_diff, _max_bucket_ms, gateway
from data_plane.config.validate import check_snapshot


def test_each_change_moves_exactly_one_route_and_never_the_measured_one() -> None:
    previous = gateway(300, "127.0.0.1:1")
    for changed in range(1, 150):
        current = gateway(300, "127.0.0.1:1", changed)
        differ = [
            a["name"] for a, b in zip(previous["routes"], current["routes"], strict=True) if a != b
        ]
        assert differ == ([] if changed - 1 == 100 else [f"route-{changed - 1}"])
        assert current["routes"][100]["paths"] == ["/api/team-3/svc-100/**"]
        assert PATH.startswith("/api/team-3/svc-100/")
        previous = current


def test_the_longest_lag_is_the_highest_bucket_reached() -> None:
    before = {"0.001": 5.0, "0.01": 5.0, "0.025": 5.0, "+Inf": 5.0}
    after = {"0.001": 9.0, "0.01": 10.0, "0.025": 11.0, "+Inf": 11.0}
    assert _max_bucket_ms(_lag_diff(before, after)) == 25.0
    assert _max_bucket_ms(_lag_diff(before, before)) == 1.0


def test_each_pushed_release_moves_one_route_and_has_a_hash_of_its_own() -> None:
    releases = Releases(300, "127.0.0.1:1")
    version, digest, payload = releases.payload()
    previous = config_pb2.Snapshot.FromString(payload)
    hashes = {digest}
    for _ in range(120):
        releases.move_one()
        version, digest, payload = releases.payload()
        current = config_pb2.Snapshot.FromString(payload)
        assert version == previous.version + 1 and len(digest) == 64
        hashes.add(digest)
        differ = [a.name for a, b in zip(previous.routes, current.routes, strict=True) if a != b]
        assert len(differ) == 1 and differ != ["route-100"]
        assert check_snapshot(current) == []
        previous = current
    releases.change_all()
    current = config_pb2.Snapshot.FromString(releases.payload()[2])
    assert all(a.paths != b.paths for a, b in zip(previous.routes, current.routes, strict=True))
    assert check_snapshot(current) == []
    assert len(hashes) == 121
