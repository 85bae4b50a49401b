"""Config sync in a running control plane: cache, watcher, inventory and the gRPC listener.

`serve(plane)` is one of the long-running coroutines of `fleetgate control-plane`. It
fills the snapshot cache from the store before it listens, so the first node to say
hello already gets the latest release, and on cancellation it stops listening, lets
streams end within a grace period and writes what nodes last said.
"""

from __future__ import annotations

import asyncio
import logging

from control_plane.plane import ControlPlane

from .cache import SnapshotCache
from .inventory import NodeInventory
from .metrics import SyncMetrics
from .service import ConfigSyncService
from .transport import ServerTls, sync_server
from .watcher import ReleaseWatcher

log = logging.getLogger("fleetgate.sync")


def running_rollout(cache: SnapshotCache) -> int | None:
    """The id of the rollout whose figures reports add to, if one runs."""
    rollout = cache.rollout
    return None if rollout is None or rollout.promoted else rollout.id


STOP_GRACE = 2.0  # seconds streams get to end when the control plane stops


async def serve(plane: ControlPlane) -> None:
    """Serve config sync on `--sync-listen` until cancelled."""
    settings = plane.settings
    if not settings.cluster_token:
        log.warning(
            "config sync is off: no --cluster-token (FLEETGATE_CLUSTER_TOKEN) is set, and"
            " nodes must present one; start with a long random token to let nodes connect"
        )
        # Ending would stop the whole control plane; the admin API works on without sync.
        await asyncio.Event().wait()
        return
    tls = ServerTls.from_files(settings.tls_cert, settings.tls_key, settings.tls_ca)
    cache = SnapshotCache()
    metrics = SyncMetrics(plane.metrics.registry)
    watcher = ReleaseWatcher(plane.db, cache, metrics)
    inventory = NodeInventory(
        plane.db,
        offline_after=settings.node_offline_after,
        purge_after=settings.node_purge_after,
        rollout=lambda: running_rollout(cache),
    )
    service = ConfigSyncService(cache, inventory, metrics, cluster_token=settings.cluster_token)
    server, _ = sync_server(service, settings.sync_listen, tls)

    unsubscribe = plane.releases.subscribe(watcher.release_made)
    loop = asyncio.get_running_loop()
    refreshing: set[asyncio.Task[None]] = set()

    def refresh() -> None:
        task = loop.create_task(watcher.refresh())
        refreshing.add(task)
        task.add_done_callback(refreshing.discard)

    def rollout_changed() -> None:
        loop.call_soon_threadsafe(refresh)

    plane.rollout_listeners.append(rollout_changed)
    try:
        await watcher.refresh()
        await server.start()
        log.info(
            "config sync listening on %s (%s)",
            settings.sync_listen,
            "TLS, client certificates required" if tls else "plaintext",
        )
        async with asyncio.TaskGroup() as group:
            group.create_task(watcher.run())
            group.create_task(inventory.run())
            group.create_task(server.wait_for_termination())
    finally:
        plane.rollout_listeners.remove(rollout_changed)
        unsubscribe()
        await server.stop(STOP_GRACE)
        await inventory.flush()  # what the streams that just ended said last
