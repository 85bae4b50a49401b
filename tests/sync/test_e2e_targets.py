"""Target health and circuit breaker state, from a real node's status report to
`GET /api/v1/nodes/{id}` of a real control plane (issue 13, point 5)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ..conftest import free_port
from .fleet import ControlPlane, Node, running, until, upstream

pytestmark = pytest.mark.e2e


def test_a_nodes_targets_show_their_health_and_breaker_state_in_the_inventory(
    tmp_path: Path,
) -> None:
    with upstream() as alive:
        dead, broken = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
        control_plane = ControlPlane(tmp_path, "cp", f"sqlite:///{tmp_path / 'store.db'}")
        node = Node(tmp_path, "edge-1", [control_plane.sync_address])
        with running(node, control_plane):
            control_plane.start().wait_healthy()
            check = {"path": "/", "interval": 0.1, "timeout": 0.5, "unhealthy_threshold": 1}
            services = [
                {
                    "name": "checked",
                    "targets": [{"address": alive}, {"address": dead}],
                    "health_check": check,
                },
                {
                    "name": "guarded",
                    "targets": [{"address": broken}],
                    "circuit_breaker": {"failure_threshold": 1, "recovery_time": 3600},
                },
            ]
            with control_plane.admin() as admin:
                for service in services:
                    admin.post("/api/v1/services", json=service).raise_for_status()
                route = {"name": "guarded", "paths": ["/guarded/**"], "service": "guarded"}
                admin.post("/api/v1/routes", json=route).raise_for_status()
            node.start().wait_ready()
            assert node.get("/guarded/x").status_code == 502  # its one failure opens it
            expected = [
                {"service": "checked", "address": a, "healthy": a == alive, "breaker": None}
                for a in sorted([alive, dead])
            ] + [{"service": "guarded", "address": broken, "healthy": True, "breaker": "open"}]
            # The next status report carries the states.
            until(
                lambda: control_plane.nodes()["edge-1"]["targets"] == expected,
                "the targets' states in the inventory",
                timeout=30.0,
                interval=0.2,
            )
