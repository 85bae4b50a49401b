"""The sync stream over TLS with client certificates: no valid certificate, no config."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from fleetgate_pb import sync_pb2
from fleetgate_pb import sync_pb2_grpc as pb_grpc
from prometheus_client import CollectorRegistry

from control_plane.certs import make_certs
from control_plane.sync.cache import SnapshotCache
from control_plane.sync.metrics import SyncMetrics
from control_plane.sync.service import ConfigSyncService
from control_plane.sync.transport import (
    ServerTls,
    TransportError,
    plaintext_warning,
    sync_server,
)
from data_plane.config.syntax import is_loopback
from data_plane.sync.backoff import Backoff
from data_plane.sync.client import SyncClient
from data_plane.sync.contract import TlsFiles
from data_plane.sync.settings import SyncSettings

from .harness import TOKEN, CheckingNode, RecordingInventory, hello, release, run


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("certs")
    make_certs(out, [], ["edge-1"])
    make_certs(out / "other", [], ["stranger"])  # a second, unrelated CA
    return out


@contextlib.asynccontextmanager
async def tls_server(certs: Path) -> AsyncIterator[tuple[str, RecordingInventory]]:
    cache = SnapshotCache()
    cache.put(release(1))
    inventory = RecordingInventory()
    service = ConfigSyncService(
        cache, inventory, SyncMetrics(CollectorRegistry()), cluster_token=TOKEN
    )
    tls = ServerTls.from_files(
        str(certs / "server.pem"), str(certs / "server-key.pem"), str(certs / "ca.pem")
    )
    server, port = sync_server(service, "127.0.0.1:0", tls)
    await server.start()
    try:
        yield f"127.0.0.1:{port}", inventory
    finally:
        await server.stop(grace=None)


def test_a_node_with_a_certificate_from_the_ca_gets_its_config(certs: Path, tmp_path: Path) -> None:
    async def scenario() -> list[int]:
        async with tls_server(certs) as (address, _):
            node = CheckingNode()
            settings = SyncSettings(
                addresses=(address,),
                cluster_token=TOKEN,
                node_id="edge-1",
                labels={},
                address="127.0.0.1:8080",
                cache_dir=str(tmp_path),
                tls=TlsFiles(
                    (certs / "node-edge-1.pem").read_bytes(),
                    (certs / "node-edge-1-key.pem").read_bytes(),
                    (certs / "ca.pem").read_bytes(),
                ),
            )
            client = SyncClient(
                node,
                settings,
                capabilities=(),
                status=sync_pb2.NodeStatus,
                backoff=Backoff(base=0.01, cap=0.05, rng=random.Random(0)),
            )
            task = asyncio.create_task(client.run())
            try:
                await node.wait_applied(1)
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            return node.applied

    assert run(scenario()) == [1]


async def _attempt(address: str, credentials: grpc.ChannelCredentials) -> grpc.StatusCode:
    async with grpc.aio.secure_channel(address, credentials) as channel:
        call = pb_grpc.ConfigSyncStub(channel).Stream(
            metadata=(("authorization", f"Bearer {TOKEN}"),)
        )
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await call.write(hello())
            await asyncio.wait_for(call.read(), 10)
        return refused.value.code()


def test_a_node_without_a_client_certificate_gets_nothing(certs: Path) -> None:
    async def scenario() -> tuple[grpc.StatusCode, list[tuple[str, ...]]]:
        async with tls_server(certs) as (address, inventory):
            credentials = grpc.ssl_channel_credentials(
                root_certificates=(certs / "ca.pem").read_bytes()
            )
            return await _attempt(address, credentials), inventory.events

    code, events = run(scenario())
    assert code == grpc.StatusCode.UNAVAILABLE
    assert events == []


def test_a_node_with_a_certificate_from_another_ca_gets_nothing(certs: Path) -> None:
    async def scenario() -> tuple[grpc.StatusCode, list[tuple[str, ...]]]:
        async with tls_server(certs) as (address, inventory):
            credentials = grpc.ssl_channel_credentials(
                root_certificates=(certs / "ca.pem").read_bytes(),
                private_key=(certs / "other" / "node-stranger-key.pem").read_bytes(),
                certificate_chain=(certs / "other" / "node-stranger.pem").read_bytes(),
            )
            return await _attempt(address, credentials), inventory.events

    code, events = run(scenario())
    assert code == grpc.StatusCode.UNAVAILABLE
    assert events == []


def test_tls_needs_all_three_flags(certs: Path) -> None:
    with pytest.raises(TransportError, match="--tls-ca missing"):
        ServerTls.from_files(str(certs / "server.pem"), str(certs / "server-key.pem"), None)


def test_a_key_that_is_not_pem_is_refused_at_start(certs: Path, tmp_path: Path) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("junk")
    with pytest.raises(TransportError, match="--tls-key"):
        ServerTls.from_files(str(certs / "server.pem"), str(junk), str(certs / "ca.pem"))


@pytest.mark.parametrize(
    ("listen", "loopback"),
    [("127.0.0.1:50051", True), ("localhost:1", True), ("[::1]:1", True), ("0.0.0.0:1", False)],
)
def test_loopback_addresses_are_recognised(listen: str, loopback: bool) -> None:
    assert is_loopback(listen) is loopback


def test_plaintext_on_a_public_address_is_warned_about() -> None:
    assert "plaintext" in (plaintext_warning("0.0.0.0:50051") or "")
    assert plaintext_warning("127.0.0.1:50051") is None


def node_credentials(certs: Path, name: str) -> grpc.ChannelCredentials:
    return grpc.ssl_channel_credentials(
        root_certificates=(certs / "ca.pem").read_bytes(),
        private_key=(certs / f"node-{name}-key.pem").read_bytes(),
        certificate_chain=(certs / f"node-{name}.pem").read_bytes(),
    )


def test_a_node_certificate_speaks_only_for_the_node_it_names(certs: Path) -> None:
    """edge-1's certificate, from the right CA, cannot say hello as edge-2."""

    async def scenario() -> tuple[grpc.StatusCode, list[tuple[str, ...]]]:
        async with (
            tls_server(certs) as (address, inventory),
            grpc.aio.secure_channel(address, node_credentials(certs, "edge-1")) as channel,
        ):
            call = pb_grpc.ConfigSyncStub(channel).Stream(
                metadata=(("authorization", f"Bearer {TOKEN}"),)
            )
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await call.write(hello("edge-2"))
                await asyncio.wait_for(call.read(), 10)
            assert "edge-1" in (refused.value.details() or "")
            return refused.value.code(), inventory.events

    code, events = run(scenario())
    assert code == grpc.StatusCode.PERMISSION_DENIED
    assert events == []


def test_a_node_certificate_admits_the_node_it_names(certs: Path) -> None:
    async def scenario() -> int:
        async with (
            tls_server(certs) as (address, _),
            grpc.aio.secure_channel(address, node_credentials(certs, "edge-1")) as channel,
        ):
            call = pb_grpc.ConfigSyncStub(channel).Stream(
                metadata=(("authorization", f"Bearer {TOKEN}"),)
            )
            await call.write(hello("edge-1"))
            message = await asyncio.wait_for(call.read(), 10)
            call.cancel()
            assert isinstance(message, sync_pb2.ControlMessage)
            return len(message.push.snapshot)

    assert run(scenario()) > 0
