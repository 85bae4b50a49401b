"""`fleetgate data-plane`: run a node until SIGTERM or SIGINT.

With `--config FILE` the node serves that declarative file and reloads it on SIGHUP;
with `--control-plane HOST:PORT` it takes its config from the control plane's stream.
The flags are defined with the rest of the CLI in `control_plane/cli.py`; this module
only checks them and runs the node, importing nothing of the control plane.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from data_plane.settings import NodeSettings, SettingsError

log = logging.getLogger("fleetgate.node")


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s"
    )
    try:
        settings = NodeSettings.from_args(args)
    except SettingsError as exc:
        return _fail(str(exc))
    if settings.config_file is not None:
        return asyncio.run(_serve_file(settings, settings.config_file))
    if settings.control_plane:
        from data_plane.sync.synced_node import run_synced

        return run_synced(args, settings)
    return _fail("give --config FILE (standalone) or --control-plane HOST:PORT")


def _fail(message: str) -> int:
    print(f"fleetgate data-plane: {message}", file=sys.stderr)
    return 2


async def _serve_file(settings: NodeSettings, path: str) -> int:
    from data_plane.node import start_node
    from data_plane.standalone import ConfigFile, ConfigFileError, apply_file, reload_file

    source = ConfigFile(path)
    reloads: set[asyncio.Task[bool]] = set()

    def reload() -> None:
        if not serving:
            log.info("SIGHUP before the first config is in place: %s is being read already", path)
            return
        log.info("SIGHUP: reading %s again", path)
        task = asyncio.ensure_future(reload_file(node, source))
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    serving = False
    try:
        node, stop = await start_node(settings, reload)
    except OSError as exc:
        return _fail(f"cannot listen: {exc}")
    try:
        await apply_file(node, source)
    except ConfigFileError as exc:
        await node.stop()
        return _fail(str(exc))
    serving = True
    host, port = settings.listen
    log.info("serving %s on %s:%d with %d workers", path, host, port, settings.workers)
    await stop.wait()
    log.info("stopping: finishing requests in flight")
    await node.stop()
    return 0
