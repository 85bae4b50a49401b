"""Capability admission: a change the connected nodes could not serve is refused at the door.

A release is the whole config, so one entity a node cannot serve makes that node refuse
every later release too: it NACKs them and keeps serving what it had, and an unrelated
route added afterwards never reaches it. So the admin API and `apply` check each change
against what the nodes said they support in their hello (the inventory's
`capabilities`), and refuse it (422) naming the entity, the capability and the nodes.

"Connected" is what the inventory does not show as OFFLINE: heard from within
`--node-offline-after`. With no such node, the control plane's own build
(`data_plane.capabilities.CAPABILITIES`) stands in for the nodes to come.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from fleetgate_pb import config_pb2 as pb
from sqlalchemy.orm import Session

from control_plane.store.nodes import node_capabilities
from data_plane.capabilities import CAPABILITIES
from data_plane.config.errors import ConfigError
from data_plane.config.snapshot import capability_needs
from data_plane.sync.identity import software_version

from .inventory import utcnow

# How many nodes a refusal names before it says how many more there are.
NAMED_NODES = 5


def unservable(
    snapshot: pb.Snapshot,
    nodes: Mapping[str, frozenset[str]],
    own: frozenset[str] = CAPABILITIES,
) -> list[ConfigError]:
    """What in `snapshot` the `nodes` (id -> capabilities) could not serve; none: `own`."""
    errors: list[ConfigError] = []
    for field, capability in capability_needs(snapshot):
        if nodes:
            lacking = sorted(node for node, held in nodes.items() if capability not in held)
            if lacking:
                errors.append(
                    ConfigError(
                        field,
                        f"needs {capability}, which connected node(s) {_named(lacking)}"
                        " do not support",
                    )
                )
        elif capability not in own:
            errors.append(
                ConfigError(
                    field,
                    f"needs {capability}, which this fleetgate build ({software_version()})"
                    " does not support, and no node is connected to serve it",
                )
            )
    return errors


def connected_capabilities(
    session: Session, now: datetime, offline_after: float
) -> dict[str, frozenset[str]]:
    """Node id -> capabilities of every node heard from within `offline_after` seconds."""
    return node_capabilities(session, now - timedelta(seconds=offline_after))


class Admission:
    """The admission check of one admin request: the nodes are read once, when first needed."""

    def __init__(
        self,
        session: Session,
        offline_after: float,
        *,
        clock: Callable[[], datetime] = utcnow,
        own: frozenset[str] = CAPABILITIES,
    ) -> None:
        self._session = session
        self._offline_after = offline_after
        self._clock = clock
        self._own = own
        self._nodes: dict[str, frozenset[str]] | None = None

    def __call__(self, snapshot: pb.Snapshot) -> list[ConfigError]:
        if not snapshot.required_capabilities:
            return []  # nothing to ask of anyone: no query
        if self._nodes is None:
            self._nodes = connected_capabilities(self._session, self._clock(), self._offline_after)
        return unservable(snapshot, self._nodes, self._own)

    def __repr__(self) -> str:
        nodes = "unread" if self._nodes is None else len(self._nodes)
        return f"<Admission nodes={nodes} offline_after={self._offline_after:g}>"


def _named(nodes: list[str]) -> str:
    shown = ", ".join(nodes[:NAMED_NODES])
    more = len(nodes) - NAMED_NODES
    return f"{shown} and {more} more" if more > 0 else shown
