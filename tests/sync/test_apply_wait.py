"""`fleetgate apply --wait`: the release it made, then every connected node's answer.

A real node ACKs; scripted nodes on the real stream NACK or stay silent, and the command
exits 1 naming them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from .fleet import ADMIN_TOKEN, CLUSTER_TOKEN, ControlPlane, Node, running, until, upstream
from .harness import NodeStream, hello

pytestmark = pytest.mark.e2e

FLEETGATE = str(Path(sys.executable).parent / "fleetgate")


def apply(control_plane: ControlPlane, path: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLEETGATE_")}
    env |= {
        "FLEETGATE_ADMIN_URL": f"http://127.0.0.1:{control_plane.admin_port}",
        "FLEETGATE_ADMIN_TOKEN": ADMIN_TOKEN,
    }
    return subprocess.run(
        [FLEETGATE, "apply", "-f", str(path), *flags],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


def gateway(target: str, retries: int) -> str:
    return (
        f"services: [{{name: echo, targets: [{{address: '{target}'}}], retries: {retries}}}]\n"
        "routes: [{name: one, paths: ['/one/**'], service: echo}]\n"
    )


@contextlib.contextmanager
def scripted_node(address: str, node_id: str, answer: str) -> Iterator[None]:
    """A node on the real stream that NACKs every push (`answer="nack"`) or never answers."""
    loop = asyncio.new_event_loop()
    hello_sent = threading.Event()
    stop = asyncio.Event()

    async def serve() -> None:
        stream = NodeStream(address, token=CLUSTER_TOKEN)
        try:
            await stream.send(hello(node_id))
            hello_sent.set()
            while not stop.is_set():
                reading = asyncio.ensure_future(stream.receive())
                stopping = asyncio.ensure_future(stop.wait())
                done, _ = await asyncio.wait(
                    {reading, stopping}, return_when=asyncio.FIRST_COMPLETED
                )
                stopping.cancel()
                if reading not in done:
                    reading.cancel()
                    break
                message = reading.result()
                if answer == "nack" and message.WhichOneof("msg") == "push":
                    await stream.nack(message.push, "this node refuses everything")
        finally:
            await stream.close()

    thread = threading.Thread(target=lambda: loop.run_until_complete(serve()), daemon=True)
    thread.start()
    assert hello_sent.wait(10), f"{node_id} did not connect"
    try:
        yield
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)


def test_apply_wait_exits_0_once_every_connected_node_acked_the_release(tmp_path: Path) -> None:
    with upstream() as target:
        control_plane = ControlPlane(tmp_path, "cp", f"sqlite:///{tmp_path / 'store.db'}")
        node = Node(tmp_path, "edge-1", [control_plane.sync_address])
        with running(node, control_plane):
            control_plane.start().wait_healthy()
            source = tmp_path / "gateway.yaml"
            source.write_text(gateway(target, 0))
            assert apply(control_plane, source).returncode == 0
            node.start().wait_ready()
            source.write_text(gateway(target, 2))
            result = apply(control_plane, source, "--wait", "--timeout", "30")
            assert result.returncode == 0, result.stderr
            release = control_plane.latest_version()
            assert result.stdout == f"services: 1 changed\nrelease {release}\n"
            assert f"release {release} applied by 1 node (edge-1)" in result.stderr
            assert control_plane.nodes()["edge-1"]["applied_version"] == release


def test_apply_wait_exits_1_naming_the_nodes_that_nacked_or_did_not_answer(
    tmp_path: Path,
) -> None:
    control_plane = ControlPlane(tmp_path, "cp", f"sqlite:///{tmp_path / 'store.db'}")
    with running(control_plane):
        control_plane.start().wait_healthy()
        source = tmp_path / "gateway.yaml"
        source.write_text(gateway("127.0.0.1:9", 0))
        assert apply(control_plane, source).returncode == 0
        address = control_plane.sync_address
        with scripted_node(address, "refuser", "nack"), scripted_node(address, "mute", "none"):
            until(lambda: {"refuser", "mute"} <= set(control_plane.nodes()), "both nodes known")
            source.write_text(gateway("127.0.0.1:9", 3))
            result = apply(control_plane, source, "--wait", "--timeout", "3")
        assert result.returncode == 1, result.stderr
        release = control_plane.latest_version()
        assert (
            f"release {release} refused (NACK) by refuser: v{release}: "
            "this node refuses everything" in result.stderr
        )
        assert f"release {release}: no answer within 3 s from 1 node (mute)" in result.stderr
