"""Who a node says it is in its hello: id, labels, software version."""

from __future__ import annotations

import hashlib
import importlib.metadata
import re
import socket
from collections.abc import Iterable

NODE_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$")
LABEL_KEY_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,62}$")
# The shape of config a node understands; a control plane may refuse nodes too old for it.
SCHEMA_VERSION = 1


def node_id(explicit: str | None, listen: str, hostname: str | None = None) -> str:
    """`--node-id` when given, else a stable id from host name and listen address.

    The derived id survives restarts (it uses nothing random), and two nodes on one
    host listening on different addresses still get different ids.
    """
    if explicit:
        if not NODE_ID_PATTERN.match(explicit):
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
        if not sep or not LABEL_KEY_PATTERN.match(key):
            raise ValueError(f"--label: expected KEY=VALUE with a simple key, got {item!r}")
        if len(value) > 256 or any(c in value for c in "\r\n\0"):
            raise ValueError(f"--label {key}: the value must be one line of at most 256 chars")
        labels[key] = value
    return labels


def software_version() -> str:
    try:
        return importlib.metadata.version("fleetgate")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"
