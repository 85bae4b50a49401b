"""Standalone mode: serve a declarative file (`--config FILE`) with no control plane.

The file has the shape of `fleetgate apply -f` files (YAML, or JSON), parsed by the
same `GatewayConfig` and built by the same `build_snapshot`; every error names the
file and the field. On SIGHUP the file is read again and applied; a file that does
not parse or does not check is logged and the running config kept. With no releases
to number them, the node numbers the contents it reads: version 1 for the first, and
one more each time the file's content hash changes, so `/ready` and the
`fleetgate_config_version` metric tell reloads apart.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import yaml
from fleetgate_pb import config_pb2 as pb
from pydantic import ValidationError

from data_plane.config.model import GatewayConfig
from data_plane.config.snapshot import build_snapshot
from data_plane.config.validate import ConfigInvalid
from data_plane.node import Node

log = logging.getLogger("fleetgate.standalone")


class ConfigFileError(ValueError):
    """The config file cannot be served; the message names the file and the field."""


def load_config_file(path: str) -> pb.Snapshot:
    """The snapshot of the declarative file at `path`; raises ConfigFileError."""
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigFileError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    try:
        document = json.loads(text) if source.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise ConfigFileError(f"{path}: not valid {_format(source)}: {exc}") from None
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise ConfigFileError(f"{path}: the top level must be a mapping of entity kinds")
    try:
        config = GatewayConfig.model_validate(document)
    except ValidationError as exc:
        problems = "; ".join(
            f"{_field(document, error['loc'])}: {error['msg']}" for error in exc.errors()
        )
        raise ConfigFileError(f"{path}: {problems}") from None
    return build_snapshot(config)


def _field(document: dict[str, object], loc: tuple[int | str, ...]) -> str:
    """`routes.users-api.paths` for ("routes", 0, "paths"): entities named as in checks."""
    parts = [str(part) for part in loc]
    if len(loc) >= 2 and isinstance(loc[1], int):
        entities = document.get(str(loc[0]))
        if isinstance(entities, list) and loc[1] < len(entities):
            entity = entities[loc[1]]
            if isinstance(entity, dict) and isinstance(entity.get("name"), str):
                parts[1] = entity["name"]
    return ".".join(parts) or "(top level)"


def _format(source: Path) -> str:
    return "JSON" if source.suffix == ".json" else "YAML"


class ConfigFile:
    """The file a standalone node serves, and the version numbers given to its contents."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.version = 0
        self.hash = ""

    def load(self) -> pb.Snapshot:
        """The file's snapshot, numbered: a new content hash is the next version."""
        snapshot = load_config_file(self.path)
        if snapshot.hash != self.hash:
            self.version += 1
            self.hash = snapshot.hash
        snapshot.version = self.version
        return snapshot

    def __repr__(self) -> str:
        return f"<ConfigFile {self.path} v{self.version} {self.hash[:12]}>"


async def apply_file(node: Node, source: ConfigFile) -> None:
    """Load `source` and apply it; raises ConfigFileError naming the file."""
    snapshot = source.load()
    try:
        await node.apply_snapshot(snapshot)
    except ConfigInvalid as exc:
        raise ConfigFileError(f"{source.path}: {exc}") from None
    except ValueError as exc:
        raise ConfigFileError(f"{source.path}: {exc}") from None


async def reload_file(node: Node, source: ConfigFile) -> bool:
    """The SIGHUP reload: apply `source` again, or log why not and keep the running config."""
    try:
        await apply_file(node, source)
    except ConfigFileError as exc:
        log.error("reload refused, still serving the previous config: %s", exc)
        return False
    log.info("reloaded %s as v%d", source.path, source.version)
    return True
