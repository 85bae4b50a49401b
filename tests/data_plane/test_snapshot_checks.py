"""A standalone node's reload checks only what changed, and finds what a full check finds.

`SnapshotChecks` checks each snapshot against what the last one that passed left (the
entity checks' records, the route table compiled without payloads); a sequence of random
changes, some of them breaking the snapshot in ways only the table finds (a regex RE2
refuses, a bad host), is checked both ways.
"""

from __future__ import annotations

import random

from fleetgate_pb import config_pb2 as pb

from data_plane.config.validate import SnapshotChecks, check_snapshot

from .test_incremental_plans import World


def test_a_sequence_of_snapshots_is_checked_as_each_alone() -> None:
    rng = random.Random(11)
    failed = passed = 0
    for _ in range(20):
        world = World(rng)
        checks = SnapshotChecks()
        for step in range(12):
            world.change()
            snapshot = world.snapshot(step + 1)
            breakage = rng.random()
            if breakage < 0.1:
                snapshot.routes[-1].paths.append("~(unclosed")
            elif breakage < 0.2:
                snapshot.routes[0].hosts.append("bad host")
            elif breakage < 0.3:
                clash = pb.Route()
                clash.CopyFrom(snapshot.routes[0])
                clash.name = "clash"
                snapshot.routes.append(clash)
            elif breakage < 0.35:
                snapshot.routes[-1].service = "nowhere"
            errors = checks.check(snapshot)
            assert errors == check_snapshot(snapshot)
            failed += bool(errors)
            passed += not errors
    assert failed > 10 and passed > 100
