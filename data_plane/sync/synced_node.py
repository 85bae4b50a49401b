"""`fleetgate data-plane --control-plane ...`: a node configured by the control plane.

The node starts not ready (`/ready` answers 503), the sync client connects and the
first snapshot pushed makes it ready; if no control plane answers, the client starts
the node from its on-disk cache instead. SIGTERM or SIGINT closes the stream, then
drains the node.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys

from data_plane.capabilities import CAPABILITIES
from data_plane.node import start_node
from data_plane.settings import NodeSettings

from .client import SyncClient
from .settings import SyncSettings, SyncSettingsError
from .status import status_message

log = logging.getLogger("fleetgate.node")


def run_synced(args: argparse.Namespace, settings: NodeSettings) -> int:
    try:
        sync = SyncSettings.from_args(args)
    except SyncSettingsError as exc:
        print(f"fleetgate data-plane: {exc}", file=sys.stderr)
        return 2
    if sync.token_warning is not None:
        log.warning("%s", sync.token_warning)
    return asyncio.run(_serve(settings, sync))


async def _serve(settings: NodeSettings, sync: SyncSettings) -> int:
    try:
        node, stop = await start_node(
            settings,
            lambda: log.info("SIGHUP: nothing to reload; the config comes from the control plane"),
        )
    except OSError as exc:
        print(f"fleetgate data-plane: cannot listen: {exc}", file=sys.stderr)
        return 2
    client = SyncClient(
        node,
        sync,
        capabilities=CAPABILITIES,
        status=lambda: status_message(node.stats()),
    )
    syncing = asyncio.create_task(client.run(), name="config-sync")
    host, port = settings.listen
    log.info(
        "node %s on %s:%d with %d workers, config from %s",
        sync.node_id,
        host,
        port,
        settings.workers,
        ", ".join(sync.addresses),
    )
    await stop.wait()
    log.info("stopping: closing config sync, finishing requests in flight")
    syncing.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await syncing
    await node.stop()
    return 0
