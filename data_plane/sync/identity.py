"""Who a node says it is in its hello: id, labels, software version."""

from __future__ import annotations

import hashlib
import importlib.metadata
import re
import socket
from collections.abc import Iterable

from .contract import LABEL_KEY, MAX_LABEL_VALUE, MAX_LABELS, NODE_ID

# The shape of config a node understands; a control plane may refuse nodes too old for it.
SCHEMA_VERSION = 1


def node_id(explicit: str | None, listen: str, hostname: str | None = None) -> str:
    """`--node-id` when given, else a stable id from host name and listen address.

    The derived id survives restarts (it uses nothing random), and two nodes on one
    host listening on different addresses still get different ids.
    """
    if explicit:
        if not NODE_ID.fullmatch(explicit):
            raise ValueError(
                "--node-id: use 1 to 128 characters of letters, digits and . _ : @ -"
                f" (got {explicit!r})"
            )
        return explicit
    host = hostname if hostname is not None else socket.gethostname()
    digest = hashlib.sha256(f"{host}|{listen}".encode()).hexdigest()[:8]
    readable = re.sub(r"[^A-Za-z0-9._-]", "-", host).strip("-._")[:100] or "node"
    return f"{readable}-{digest}"


def parse_labels(items: Iterable[str]) -> dict[str, str]:
    """`--label KEY=VALUE` flags as a map; a malformed one is an error naming it."""
    labels: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not LABEL_KEY.fullmatch(key):
            raise ValueError(f"--label: expected KEY=VALUE with a simple key, got {item[:64]!r}")
        if len(value) > MAX_LABEL_VALUE or not value.isprintable():
            raise ValueError(
                f"--label {key}: the value must be at most {MAX_LABEL_VALUE} printable characters"
            )
        if len(labels) >= MAX_LABELS:
            raise ValueError(f"--label: at most {MAX_LABELS} labels")
        labels[key] = value
    return labels


def software_version() -> str:
    try:
        return importlib.metadata.version("fleetgate")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"
