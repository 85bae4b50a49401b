"""Standalone mode: serve a declarative file (`--config FILE`) with no control plane.

The file has the shape of `fleetgate apply -f` files (YAML, or JSON), parsed by the
same `GatewayConfig` and built by the same `build_snapshot`; every error names the
file and the field. On SIGHUP the file is read again and applied; a file that does
not parse or does not check is logged and the running config kept.
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


async def apply_file(node: Node, path: str) -> None:
    """Load `path` and apply it; raises ConfigFileError naming the file."""
    snapshot = load_config_file(path)
    try:
        await node.apply_snapshot(snapshot)
    except ConfigInvalid as exc:
        raise ConfigFileError(f"{path}: {exc}") from None
    except ValueError as exc:
        raise ConfigFileError(f"{path}: {exc}") from None


async def reload_file(node: Node, path: str) -> bool:
    """The SIGHUP reload: apply `path` again, or log why not and keep the running config."""
    try:
        await apply_file(node, path)
    except ConfigFileError as exc:
        log.error("reload refused, still serving the previous config: %s", exc)
        return False
    log.info("reloaded %s", path)
    return True
