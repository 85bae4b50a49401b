"""Config sync end to end: real `fleetgate control-plane` and `data-plane` processes on loopback."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from control_plane.certs import make_certs
from control_plane.store.catalog import Catalog
from control_plane.store.releases import make_release
from data_plane.config.model import RouteSpec

from .. import loopback_http
from ..conftest import open_store
from .fleet import CLUSTER_TOKEN, ControlPlane, Node, running, until, upstream

pytestmark = pytest.mark.e2e


def sqlite(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'store.db'}"


def seed(control_plane: ControlPlane, target: str) -> None:
    with control_plane.admin() as admin:
        service = {"name": "echo", "targets": [{"address": target}]}
        admin.post("/api/v1/services", json=service).raise_for_status()
        route = {"name": "one", "paths": ["/one/**"], "service": "echo"}
        admin.post("/api/v1/routes", json=route).raise_for_status()


def add_route(control_plane: ControlPlane, name: str, **extra: object) -> None:
    with control_plane.admin() as admin:
        route = {"name": name, "paths": [f"/{name}/**"], "service": "echo", **extra}
        admin.post("/api/v1/routes", json=route).raise_for_status()


def store_unchecked_route(tmp_path: Path, name: str) -> None:
    """A route with a cache stored and released straight through the store, unchecked."""
    with open_store(sqlite(tmp_path)) as db, db.session() as session:
        route = {"name": name, "paths": [f"/{name}/**"], "service": "echo", "cache": {"ttl": 5}}
        Catalog(session).create("routes", RouteSpec.model_validate(route))
    with open_store(sqlite(tmp_path)) as db:
        assert make_release(db, author="older-replica") is not None


@contextlib.contextmanager
def seeded_nodes(tmp_path: Path, *node_ids: str) -> Iterator[tuple[ControlPlane, list[Node]]]:
    """A control plane on SQLite holding route `one` to an echo upstream, and a node of
    each id, started together and ready; all stopped on leaving."""
    with upstream() as target:
        control_plane = ControlPlane(tmp_path, "cp", sqlite(tmp_path))
        nodes = [Node(tmp_path, node_id, [control_plane.sync_address]) for node_id in node_ids]
        with running(*nodes, control_plane):
            control_plane.start().wait_healthy()
            seed(control_plane, target)
            for node in nodes:
                node.start()
            for node in nodes:
                node.wait_ready()
            yield control_plane, nodes


@contextlib.contextmanager
def one_synced_node(tmp_path: Path) -> Iterator[tuple[ControlPlane, Node]]:
    """`seeded_nodes` with node `edge-1`, SYNCED at the control plane's release."""
    with seeded_nodes(tmp_path, "edge-1") as (control_plane, (node,)):
        good = control_plane.latest_version()
        until(lambda: synced_at(control_plane, ["edge-1"], good), "the node SYNCED")
        yield control_plane, node


def synced_at(control_plane: ControlPlane, node_ids: list[str], version: int) -> bool:
    nodes = control_plane.nodes()
    return all(
        node_id in nodes
        and nodes[node_id]["status"] == "SYNCED"
        and nodes[node_id]["applied_version"] == version
        for node_id in node_ids
    )


def test_a_route_created_through_the_admin_api_is_served_by_all_three_nodes(
    tmp_path: Path,
) -> None:
    with seeded_nodes(tmp_path, "edge-0", "edge-1", "edge-2") as (control_plane, nodes):
        assert all(node.get("/two/x").status_code == 404 for node in nodes)

        add_route(control_plane, "two")
        version = until(
            lambda: control_plane.latest_version() >= 2 and control_plane.latest_version(),
            "the release of the new route",
        )
        for node in nodes:
            until(lambda node=node: node.serves("/two/x"), f"{node.node_id} serving /two")
        until(
            lambda: synced_at(control_plane, [n.node_id for n in nodes], version),
            "every node SYNCED at the new version",
        )
        answer = nodes[0].get("/two/hello").json()
        assert answer["path"] == "/two/hello"


def test_the_admin_port_metrics_show_nodes_propagation_and_snapshot_size(tmp_path: Path) -> None:
    with seeded_nodes(tmp_path, "edge-1") as (control_plane, _):
        until(
            lambda: control_plane.metric("fleetgate_sync_connected_nodes") == 1,
            "the node connected",
        )
        add_route(control_plane, "two")  # an ACK of a live change, not a catch-up
        until(
            lambda: control_plane.metric("fleetgate_sync_propagation_seconds_count") == 1,
            "the ACK of the change timed",
        )
        assert control_plane.metric("fleetgate_sync_snapshot_bytes") > 0
        assert control_plane.metric("fleetgate_releases_total") >= 1
        assert control_plane.metric("fleetgate_sync_nacks_total") == 0


def test_nodes_keep_serving_without_the_control_plane_and_converge_when_it_returns(
    tmp_path: Path,
) -> None:
    with seeded_nodes(tmp_path, "steady", "restarted") as (control_plane, nodes):
        steady, restarted = nodes
        control_plane.stop()
        assert steady.serves("/one/a")
        # Restarted while no control plane answers: it serves from its disk cache.
        restarted.stop()
        restarted.start()
        restarted.wait_ready()
        assert restarted.serves("/one/b")

        control_plane.start().wait_healthy()
        add_route(control_plane, "two")
        for node in (steady, restarted):
            until(lambda node=node: node.serves("/two/x"), f"{node.node_id} serving /two")
        version = control_plane.latest_version()
        until(
            lambda: synced_at(control_plane, ["steady", "restarted"], version),
            "both nodes SYNCED after the control plane came back",
        )


def test_a_release_a_node_cannot_apply_is_nacked_and_not_sent_again(tmp_path: Path) -> None:
    with one_synced_node(tmp_path) as (control_plane, node):
        good = control_plane.latest_version()
        # The admin API refuses what the node cannot serve, so the release comes from
        # a writer that did not ask (a replica of an older build): the node must refuse
        # it. `cache` is a policy no node implements yet.
        store_unchecked_route(tmp_path, "cached")
        nacked = until(
            lambda: (
                control_plane.nodes()["edge-1"]["status"] == "NACKED"
                and control_plane.nodes()["edge-1"]
            ),
            "the node NACKED",
        )
        assert "policy.cache" in nacked["last_error"]
        assert nacked["applied_version"] == good
        assert node.serves("/one/still-here")
        assert node.get("/cached/x").status_code == 404
        assert control_plane.metric("fleetgate_sync_nacks_total") == 1

        # Restarted, the node gets nothing new (the release is never re-sent) and
        # serves its last good snapshot again.
        node.stop()
        node.start().wait_ready()
        assert node.serves("/one/after-restart")
        until(
            lambda: control_plane.metric("fleetgate_sync_connected_nodes") == 1,
            "the node reconnected",
        )
        assert control_plane.nodes()["edge-1"]["status"] == "NACKED"
        assert control_plane.metric("fleetgate_sync_nacks_total") == 1

        # The next release the node can serve reaches it.
        with control_plane.admin() as admin:
            admin.delete("/api/v1/routes/cached").raise_for_status()
        add_route(control_plane, "two")
        until(lambda: node.serves("/two/x"), "the node serving the next release")
        assert control_plane.metric("fleetgate_sync_nacks_total") == 1


def test_one_hundred_config_changes_under_load_fail_no_request(tmp_path: Path) -> None:
    with one_synced_node(tmp_path) as (control_plane, node):
        done = threading.Event()
        outcomes: list[int | str] = []

        def load() -> None:
            with loopback_http.client(base_url=f"http://127.0.0.1:{node.port}", timeout=5.0) as c:
                # Bounded: stops when the changes are done, or after 100,000 requests.
                for _ in range(100_000):
                    if done.is_set():
                        return
                    try:
                        outcomes.append(c.get("/one/load").status_code)
                    except httpx.HTTPError as exc:
                        outcomes.append(type(exc).__name__)

        loader = threading.Thread(target=load)
        loader.start()
        try:
            with control_plane.admin() as admin:
                for change in range(100):
                    route = {
                        "name": "one",
                        "paths": ["/one/**"],
                        "service": "echo",
                        "priority": change % 7,
                        "tags": [f"change-{change}"],
                    }
                    admin.put("/api/v1/routes/one", json=route).raise_for_status()
            last = control_plane.latest_version()
            until(lambda: synced_at(control_plane, ["edge-1"], last), "the last change applied")
        finally:
            done.set()
            loader.join(30)
        failures = [o for o in outcomes if o != 200]
        assert outcomes, "no request was made"
        assert failures == [], f"{len(failures)} of {len(outcomes)} requests failed"
        assert last > 2


def test_a_change_made_through_one_replica_reaches_the_nodes_of_another(
    tmp_path: Path, postgres_url: str
) -> None:
    with upstream() as target:
        first = ControlPlane(tmp_path, "cp-a", postgres_url)
        second = ControlPlane(tmp_path, "cp-b", postgres_url, extra=("--no-migrate",))
        on_first = Node(tmp_path, "on-a", [first.sync_address])
        on_second = Node(tmp_path, "on-b", [second.sync_address])
        with running(on_first, on_second, first, second):
            first.start().wait_healthy()
            second.start().wait_healthy()
            seed(first, target)
            on_first.start()
            on_second.start()
            on_first.wait_ready()
            on_second.wait_ready()

            add_route(first, "two")
            for node in (on_first, on_second):
                until(lambda node=node: node.serves("/two/x"), f"{node.node_id} serving /two")
            version = first.latest_version()
            for replica in (first, second):
                until(
                    lambda replica=replica: synced_at(replica, ["on-a", "on-b"], version),
                    f"{replica.name} showing both nodes SYNCED",
                )


def test_a_node_with_a_wrong_token_is_sent_no_config(tmp_path: Path) -> None:
    with upstream() as target:
        control_plane = ControlPlane(tmp_path, "cp", sqlite(tmp_path))
        intruder = Node(
            tmp_path, "intruder", [control_plane.sync_address], cluster_token="not-the-token"
        )
        with running(intruder, control_plane):
            control_plane.start().wait_healthy()
            seed(control_plane, target)
            intruder.start()
            until(lambda: "refused this node" in intruder.log_tail(), "the node to be refused")
            assert not intruder.ready()
            assert control_plane.nodes() == {}


def test_over_tls_a_node_with_a_certificate_of_the_ca_is_synced_and_a_stranger_is_not(
    tmp_path: Path,
) -> None:
    certs = tmp_path / "certs"
    make_certs(certs, [], ["edge-1"])
    make_certs(certs / "other", [], ["stranger"])
    server_tls = (
        "--tls-cert", str(certs / "server.pem"),
        "--tls-key", str(certs / "server-key.pem"),
        "--tls-ca", str(certs / "ca.pem"),
    )  # fmt: skip

    def node_tls(directory: Path, name: str) -> tuple[str, ...]:
        return (
            "--tls-cert", str(directory / f"node-{name}.pem"),
            "--tls-key", str(directory / f"node-{name}-key.pem"),
            "--tls-ca", str(certs / "ca.pem"),
        )  # fmt: skip

    with upstream() as target:
        control_plane = ControlPlane(tmp_path, "cp", sqlite(tmp_path), extra=server_tls)
        member = Node(
            tmp_path, "edge-1", [control_plane.sync_address], extra=node_tls(certs, "edge-1")
        )
        stranger = Node(
            tmp_path,
            "stranger",
            [control_plane.sync_address],
            extra=node_tls(certs / "other", "stranger"),
        )
        with running(member, stranger, control_plane):
            control_plane.start().wait_healthy()
            seed(control_plane, target)
            member.start()
            stranger.start()
            member.wait_ready()
            assert member.serves("/one/x")
            until(
                lambda: "TLS handshake failed" in stranger.log_tail(),
                "the stranger's handshake to fail",
            )
            assert not stranger.ready()
            assert set(control_plane.nodes()) == {"edge-1"}


def test_a_node_without_a_cluster_token_refuses_to_start(tmp_path: Path) -> None:
    node = Node(tmp_path, "edge-1", ["127.0.0.1:1"], cluster_token="")
    node.env.pop("FLEETGATE_CLUSTER_TOKEN")
    with running(node):
        node.start()
        assert node.popen is not None
        assert node.popen.wait(30) == 2
    assert "--cluster-token" in node.log_tail()
    assert CLUSTER_TOKEN not in node.log_tail()
