"""A rollout's selector as each node receives it: a `CandidateSelector`, or nothing.

A `nodes` selector is decided here, per node, against the labels of its hello: a node
of the group serves the candidate for all its traffic, any other node never receives
it. A header or a sticky share is the same for every node, which picks per request.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fleetgate_pb import sync_pb2 as pb

BY = {"header": pb.CandidateSelector.HEADER, "cookie": pb.CandidateSelector.COOKIE}


def node_selector(
    selector: Mapping[str, Any], labels: Mapping[str, str]
) -> pb.CandidateSelector | None:
    """What a node with `labels` is told to select; None when it takes no part."""
    group = selector.get("nodes")
    if group is not None:
        if all(labels.get(key) == value for key, value in group.items()):
            return pb.CandidateSelector(whole_node=True)
        return None
    header = selector.get("header")
    if header is not None:
        return pb.CandidateSelector(header_name=header["name"], header_value=header["value"])
    kind, _, name = str(selector.get("by", "client_ip")).partition(":")
    return pb.CandidateSelector(
        percent=int(selector["percent"]),
        by=BY.get(kind, pb.CandidateSelector.CLIENT_IP),
        by_name=name,
    )
