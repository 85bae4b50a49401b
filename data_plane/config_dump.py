"""`/config_dump`: the configs a node serves, in the file shape, with their secrets redacted.

Like Envoy's `/config_dump`, it answers "what is this node running?" without the control
plane: the snapshot read back into the declarative file's shape (`snapshot_config`),
with its version and hash. Secrets never leave the node this way: a field whose name
says it holds one (a JWT `secret`, a certificate `key`, an API key's `hash`, any
`password` or `token`) becomes "[redacted]", and a URL's password is cut out. The
names are matched whole, so a field added later under one of them is redacted too.
During a rollout the candidate is dumped the same way beside the active config, with the
selector that says which requests it serves.
"""

from __future__ import annotations

import re
from typing import Any

from fleetgate_pb import config_pb2 as pb
from fleetgate_pb import sync_pb2

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


def candidate_dump(
    snapshot: pb.Snapshot, selector: sync_pb2.CandidateSelector | None
) -> dict[str, Any]:
    """The dump of a rollout's candidate: `config_dump`, and the requests it serves."""
    return {**config_dump(snapshot), "selector": None if selector is None else _selector(selector)}


def _selector(selector: sync_pb2.CandidateSelector) -> dict[str, Any]:
    if selector.whole_node:
        return {"whole_node": True}
    if selector.header_name:
        return {"header": {"name": selector.header_name, "value": selector.header_value}}
    by = sync_pb2.CandidateSelector.By.Name(selector.by).lower()
    share: dict[str, Any] = {"percent": selector.percent, "by": by}
    if selector.by != sync_pb2.CandidateSelector.CLIENT_IP:
        share["name"] = selector.by_name
    return share


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
