"""`/config_dump`: the config a node serves, in the file shape, with its secrets redacted.

Like Envoy's `/config_dump`, it answers "what is this node running?" without the control
plane: the snapshot read back into the declarative file's shape (`snapshot_config`),
with its version and hash. Secrets never leave the node this way: a field whose name
says it holds one (a JWT `secret`, a certificate `key`, an API key's `hash`, any
`password` or `token`) becomes "[redacted]", and a URL's password is cut out. The
names are matched whole, so a field added later under one of them is redacted too.
"""

from __future__ import annotations

import re
from typing import Any

from fleetgate_pb import config_pb2 as pb

from data_plane.config.snapshot_config import snapshot_config

REDACTED = "[redacted]"
SECRET_FIELDS = frozenset(
    {"secret", "key", "hash", "password", "token", "client_key", "private_key"}
)
# scheme://user:password@host -> scheme://user:[redacted]@host
_URL_PASSWORD = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.-]*://[^/@:\s]*:)[^/@\s]*(?=@)")


def config_dump(snapshot: pb.Snapshot) -> dict[str, Any]:
    """The dump of one snapshot: version, hash and the redacted config."""
    config = snapshot_config(snapshot).to_file_dict()
    return {"version": snapshot.version, "hash": snapshot.hash, "config": redact(config)}


def redact(value: Any) -> Any:
    """`value` with every secret field replaced and URL passwords cut out."""
    if isinstance(value, dict):
        return {
            name: REDACTED if name in SECRET_FIELDS and item is not None else redact(item)
            for name, item in value.items()
        }
    if isinstance(value, list):
        return [redact(item) for item in value]
    if isinstance(value, str) and "@" in value:
        return _URL_PASSWORD.sub(lambda m: m["head"] + REDACTED, value)
    return value
