"""Which requests a blue/green candidate serves: the selector, compiled once.

The control plane sends a `CandidateSelector` with each candidate push: the whole node
(its labels matched the rollout's node group), requests carrying a header with a value,
or a sticky share of clients. A share is sticky because it hashes a key of the client
(its address, a header or a cookie) to one of 10,000 buckets with a hash every node
computes alike (BLAKE2b, never Python's per-process `hash`): one client lands on the
same side on every request and every node. A request without the key goes to active.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fleetgate_pb import sync_pb2 as pb

from data_plane.config.syntax import MAX_HEADER_VALUE, header_name_problem
from data_plane.http.request import RequestHead, header_value

if TYPE_CHECKING:
    from data_plane.runtime import RuntimeConfig

BUCKETS = 10_000

# (head, client address) -> does the candidate serve this request?
Pick = Callable[[RequestHead, str], bool]


@dataclass(slots=True, eq=False)
class Candidate:
    """A compiled candidate and the test that sends a request to it; swapped as one."""

    config: RuntimeConfig
    pick: Pick

    def __repr__(self) -> str:
        return f"<Candidate {self.config!r}>"


def bucket(key: bytes) -> int:
    """The sticky bucket of a client key, 0..9999, the same on every node."""
    digest = hashlib.blake2b(key, digest_size=8).digest()
    return int.from_bytes(digest, "big") % BUCKETS


def selector_problem(selector: pb.CandidateSelector) -> str | None:
    """Why a node must refuse `selector`, or None."""
    if selector.percent > 100:
        return f"selector.percent: {selector.percent} is above 100"
    if selector.header_name:
        problem = header_name_problem(selector.header_name)
        if problem is not None:
            return f"selector.header_name: {problem}"
        if len(selector.header_value) > MAX_HEADER_VALUE:
            return "selector.header_value: too long"
    if selector.by != pb.CandidateSelector.CLIENT_IP:
        problem = header_name_problem(selector.by_name)
        if problem is not None:
            return f"selector.by_name: {problem}"
    return None


def compile_selector(selector: pb.CandidateSelector) -> Pick:
    """The per-request test of `selector`; `selector_problem` must have passed."""
    if selector.whole_node:
        return lambda head, client: True
    if selector.header_name:
        name = selector.header_name.lower().encode("ascii")
        wanted = selector.header_value.encode("latin-1")

        def by_header(head: RequestHead, client: str) -> bool:
            return header_value(head, name) == wanted

        return by_header
    threshold = selector.percent * (BUCKETS // 100)
    if threshold <= 0:
        return lambda head, client: False
    key = _sticky_key(selector)

    def by_share(head: RequestHead, client: str) -> bool:
        found = key(head, client)
        return found is not None and bucket(found) < threshold

    return by_share


def cookie_value(field: bytes, name: bytes) -> bytes | None:
    """The value of cookie `name` in a Cookie field (`a=1; b=2`, RFC 6265 5.4), or None.

    A split on `;` rather than `http.cookies.SimpleCookie`, which costs some 25 µs a
    request; quotes around a value are kept, as the field has them (both sides agree).
    """
    for pair in field.split(b";"):
        key, sep, value = pair.strip().partition(b"=")
        if sep and key == name:
            return value
    return None


def _sticky_key(selector: pb.CandidateSelector) -> Callable[[RequestHead, str], bytes | None]:
    if selector.by == pb.CandidateSelector.HEADER:
        name = selector.by_name.lower().encode("ascii")
        return lambda head, client: header_value(head, name)
    if selector.by == pb.CandidateSelector.COOKIE:
        cookie = selector.by_name.encode("ascii")

        def from_cookie(head: RequestHead, client: str) -> bytes | None:
            value = header_value(head, b"cookie")
            return None if value is None else cookie_value(value, cookie)

        return from_cookie
    return lambda head, client: client.encode("ascii", "replace")
