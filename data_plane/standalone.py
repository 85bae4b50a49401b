"""Standalone mode: serve a declarative file (`--config FILE`) with no control plane.

The file has the shape of `fleetgate apply -f` files (YAML, or JSON), read by the same
loader (`data_plane/config/document.py`) and built by the same `build_snapshot`; every
error names the file, the line and the field. On SIGHUP the file is read again and
applied; a file that does not parse or does not check is logged and the running config
kept. With no releases
to number them, the node numbers the contents it reads: version 1 for the first, and
one more each time the file's content hash changes, so `/ready` and the
`fleetgate_config_version` metric tell reloads apart.
"""

from __future__ import annotations

import asyncio
import logging

from fleetgate_pb import config_pb2 as pb

from data_plane.config.document import ConfigFileError, read_gateway_snapshot
from data_plane.config.errors import ConfigInvalid
from data_plane.config.validate import SnapshotChecks
from data_plane.node import Node

log = logging.getLogger("fleetgate.standalone")


def load_config_file(path: str, checks: SnapshotChecks | None = None) -> pb.Snapshot:
    """The snapshot of the declarative file at `path`; raises ConfigFileError.
    `checks`: what the checks of the previous load left, to check only what changed."""
    return read_gateway_snapshot(path, checks)


class ConfigFile:
    """The file a standalone node serves, and the version numbers given to its contents."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.version = 0
        self.hash = ""
        self.checks = SnapshotChecks()  # a reload checks only the routes that changed

    def load(self) -> pb.Snapshot:
        """The file's snapshot, numbered: a new content hash is the next version."""
        snapshot = load_config_file(self.path, self.checks)
        if snapshot.hash != self.hash:
            self.version += 1
            self.hash = snapshot.hash
        snapshot.version = self.version
        return snapshot

    def __repr__(self) -> str:
        return f"<ConfigFile {self.path} v{self.version} {self.hash[:12]}>"


async def apply_file(node: Node, source: ConfigFile) -> None:
    """Load `source` and apply it; raises ConfigFileError naming the file.

    The file is read, validated and checked in a thread (about 1 s of CPU at 10,000
    routes): the supervisor's loop goes on answering status requests, supervising the
    workers and taking the SIGHUPs that arrive meanwhile. One load runs at a time."""
    snapshot = await asyncio.to_thread(source.load)
    try:
        await node.apply_snapshot(snapshot)
    except ConfigInvalid as exc:
        raise ConfigFileError(source.path, [f"{source.path}: {exc}"]) from None
    except ValueError as exc:
        raise ConfigFileError(source.path, [f"{source.path}: {exc}"]) from None


async def reload_file(node: Node, source: ConfigFile) -> bool:
    """The SIGHUP reload: apply `source` again, or log why not and keep the running config."""
    try:
        await apply_file(node, source)
    except ConfigFileError as exc:
        log.error("reload refused, still serving the previous config: %s", exc)
        return False
    log.info("reloaded %s as v%d", source.path, source.version)
    return True
