"""Rotating the cluster token without downtime: a control plane accepts NEW,OLD."""

from __future__ import annotations

import argparse

import grpc
import pytest

from control_plane.settings import ControlPlaneSettings
from data_plane.sync.contract import cluster_tokens
from data_plane.sync.settings import SyncSettings, SyncSettingsError

from .harness import NodeStream, hello, release, run, sync_server

NEW = "new-cluster-token-0123456789abcdef"
OLD = "old-cluster-token-0123456789abcdef"


async def admitted(address: str, token: str) -> bool:
    node = NodeStream(address, token=token)
    try:
        try:
            await node.send(hello())
        except grpc.aio.AioRpcError as exc:
            # The control plane refuses a stream before reading from it; a hello written
            # after that refusal fails in gRPC's core, which reports INTERNAL instead.
            assert exc.code() in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.INTERNAL)
            return False
        push = await node.receive()
        return push.WhichOneof("msg") == "push"
    except grpc.aio.AioRpcError as exc:
        assert exc.code() == grpc.StatusCode.UNAUTHENTICATED
        return False
    finally:
        await node.close()


def test_during_a_rotation_nodes_with_the_new_or_the_old_token_are_admitted() -> None:
    async def scenario() -> list[bool]:
        async with sync_server(cluster_token=f"{NEW},{OLD}") as server:
            server.cache.put(release(1))
            return [
                await admitted(server.address, token)
                for token in (NEW, OLD, "another-token-0123456789abcdef", f"{NEW},{OLD}")
            ]

    assert run(scenario()) == [True, True, False, False]


def test_after_the_rotation_the_old_token_is_refused() -> None:
    async def scenario() -> list[bool]:
        async with sync_server(cluster_token=NEW) as server:
            server.cache.put(release(1))
            return [await admitted(server.address, token) for token in (NEW, OLD)]

    assert run(scenario()) == [True, False]


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (f"{NEW},", "may not be empty"),
        (f",{OLD}", "may not be empty"),
        (f"{NEW}, {OLD}", "whitespace"),
        (f"{NEW},{OLD},third-token-0123456789abcdef", "at most 2 cluster tokens"),
    ],
)
def test_a_bad_token_list_is_refused_saying_why(value: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        cluster_tokens(value)
    with pytest.raises(ValueError, match=problem):
        ControlPlaneSettings(cluster_token=value)


def test_every_token_of_the_list_must_be_strong_off_loopback() -> None:
    assert ControlPlaneSettings(cluster_token=f"{NEW},{OLD}", sync_listen="0.0.0.0:50051")
    with pytest.raises(ValueError, match="weak"):
        ControlPlaneSettings(cluster_token=f"{NEW},short", sync_listen="0.0.0.0:50051")


def test_a_node_sends_one_token_and_says_so_when_given_two() -> None:
    args = argparse.Namespace(
        control_plane="cp.internal:50051",
        cluster_token=f"{NEW},{OLD}",
        node_id="edge-1",
        listen="0.0.0.0:8080",
        label=[],
        cache_dir="cache",
        tls_cert=None,
        tls_key=None,
        tls_ca=None,
    )
    with pytest.raises(SyncSettingsError, match="a node sends one token"):
        SyncSettings.from_args(args)
