"""The wedge that capability admission prevents, end to end with real processes.

Before it, a route needing a policy no node implements was stored, every node NACKed
that release and every later one (a release is the whole config), and a route added
afterwards was never served. Now it is refused at the door and the fleet keeps moving.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from .fleet import ADMIN_TOKEN, environment, until
from .test_e2e_sync import add_route, one_synced_node, synced_at

pytestmark = pytest.mark.e2e

CACHED = {"name": "cached", "paths": ["/cached/**"], "service": "echo", "cache": {"ttl": 5}}


def test_an_unservable_route_is_refused_and_a_later_route_still_reaches_the_node(
    tmp_path: Path,
) -> None:
    with one_synced_node(tmp_path) as (control_plane, node):
        good = control_plane.latest_version()
        with control_plane.admin() as admin:
            refused = admin.post("/api/v1/routes", json=CACHED)
        assert refused.status_code == 422
        message = refused.json()["error"]["message"]
        assert "routes.cached.cache" in message
        assert "policy.cache" in message and "edge-1" in message
        assert control_plane.latest_version() == good

        # `apply --dry-run` reports the same refusal, and exits non-zero.
        with control_plane.admin() as admin:
            document = admin.get("/api/v1/config").json()
        document["routes"].append(CACHED)
        path = tmp_path / "gateway.yaml"
        path.write_text(yaml.safe_dump(document))
        dry_run = subprocess.run(
            [sys.executable, "-m", "control_plane.cli", "apply", "--dry-run", "-f", str(path)],
            capture_output=True,
            text=True,
            timeout=60,
            env=environment(
                FLEETGATE_ADMIN_URL=f"http://127.0.0.1:{control_plane.admin_port}",
                FLEETGATE_ADMIN_TOKEN=ADMIN_TOKEN,
            ),
        )
        assert dry_run.returncode != 0
        assert "routes.cached.cache" in dry_run.stderr and "edge-1" in dry_run.stderr

        add_route(control_plane, "two")
        until(lambda: node.serves("/two/x"), "the node serving the later route")
        latest = control_plane.latest_version()
        until(lambda: synced_at(control_plane, ["edge-1"], latest), "the node SYNCED")
        assert control_plane.metric("fleetgate_sync_nacks_total") == 0
