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
import os
import sys

from data_plane.descriptors import raise_open_files_limit
from data_plane.log_format import LOG_FORMAT_VARIABLE, configure_logging
from data_plane.policies.clients import TRUSTED_PROXIES_VARIABLE
from data_plane.settings import NodeSettings, SettingsError

log = logging.getLogger("fleetgate.node")


def run(args: argparse.Namespace) -> int:
    log_format = getattr(args, "log_format", "text")
    configure_logging(log_format)
    os.environ[LOG_FORMAT_VARIABLE] = log_format  # the workers log alike
    try:
        settings = NodeSettings.from_args(args)
    except SettingsError as exc:
        return _fail(str(exc))
    # The workers trust the same proxies: they read them from the variable.
    os.environ[TRUSTED_PROXIES_VARIABLE] = ",".join(str(n) for n in settings.trusted_proxies)
    raise_open_files_limit()  # before the workers start: they inherit it
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
    # One reload at a time, and at most one more waiting: SIGHUPs that arrive while a
    # reload compiles coalesce into a single next reload, which reads the file as it is
    # then, so the node never works through a queue of stale versions.
    running: asyncio.Task[bool] | None = None
    again = False

    def reload() -> None:
        nonlocal running, again
        if not serving:
            log.info("SIGHUP before the first config is in place: %s is being read already", path)
            return
        if running is not None:
            log.info("SIGHUP: a reload is running; %s will be read again after it", path)
            again = True
            return
        log.info("SIGHUP: reading %s again", path)
        running = asyncio.ensure_future(reload_file(node, source))
        running.add_done_callback(reloaded)

    def reloaded(_: asyncio.Task[bool]) -> None:
        nonlocal running, again
        running = None
        if again:
            again = False
            reload()

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
