"""Replacing the sync stream's CA without downtime (docs/deploy.md): trust both, then move.

While each side's CA file holds the old and the new CA, nodes with either certificate
get their config from a control plane with either server certificate; once the old CA
is dropped, a node still on it gets nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from fleetgate_pb import sync_pb2_grpc as pb_grpc
from prometheus_client import CollectorRegistry

from control_plane.certs import make_certs
from control_plane.sync.cache import SnapshotCache
from control_plane.sync.metrics import SyncMetrics
from control_plane.sync.service import ConfigSyncService
from control_plane.sync.transport import ServerTls, sync_server

from .harness import TOKEN, RecordingInventory, hello, release, run


@pytest.fixture(scope="module")
def cas(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    old, new = tmp_path_factory.mktemp("old-ca"), tmp_path_factory.mktemp("new-ca")
    make_certs(old, [], ["edge-1"])
    make_certs(new, [], ["edge-1"])
    return old, new


def bundle(*directories: Path) -> bytes:
    return b"".join((directory / "ca.pem").read_bytes() for directory in directories)


@contextlib.asynccontextmanager
async def control_plane(server_from: Path, trusted: bytes) -> AsyncIterator[str]:
    cache = SnapshotCache()
    cache.put(release(1))
    service = ConfigSyncService(
        cache, RecordingInventory(), SyncMetrics(CollectorRegistry()), cluster_token=TOKEN
    )
    tls = ServerTls(
        (server_from / "server.pem").read_bytes(),
        (server_from / "server-key.pem").read_bytes(),
        trusted,
    )
    server, port = sync_server(service, "127.0.0.1:0", tls)
    await server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await server.stop(grace=None)


async def node_gets_config(address: str, cert_from: Path, trusted: bytes) -> bool:
    credentials = grpc.ssl_channel_credentials(
        root_certificates=trusted,
        private_key=(cert_from / "node-edge-1-key.pem").read_bytes(),
        certificate_chain=(cert_from / "node-edge-1.pem").read_bytes(),
    )
    async with grpc.aio.secure_channel(address, credentials) as channel:
        call = pb_grpc.ConfigSyncStub(channel).Stream(
            metadata=(("authorization", f"Bearer {TOKEN}"),)
        )
        try:
            await call.write(hello("edge-1"))
            message = await asyncio.wait_for(call.read(), 10)
        except grpc.aio.AioRpcError as exc:
            assert exc.code() == grpc.StatusCode.UNAVAILABLE  # the handshake failed
            return False
        call.cancel()
        return message is not grpc.aio.EOF and message.WhichOneof("msg") == "push"


def test_while_both_cas_are_trusted_every_mix_of_certificates_connects(
    cas: tuple[Path, Path],
) -> None:
    old, new = cas

    async def scenario() -> list[bool]:
        results = []
        for server_from in (old, new):
            async with control_plane(server_from, bundle(old, new)) as address:
                for node_from in (old, new):
                    results.append(await node_gets_config(address, node_from, bundle(old, new)))
        return results

    assert run(scenario()) == [True, True, True, True]


def test_once_the_old_ca_is_dropped_a_node_still_on_it_gets_nothing(
    cas: tuple[Path, Path],
) -> None:
    old, new = cas

    async def scenario() -> list[bool]:
        async with control_plane(new, bundle(new)) as address:
            return [
                await node_gets_config(address, new, bundle(new)),
                await node_gets_config(address, old, bundle(old, new)),
            ]

    assert run(scenario()) == [True, False]
