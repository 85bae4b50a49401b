"""A route's fields as a compile reads them: read from protobuf once, in one call.

The checks, the route table and the plans each read a route's name, paths, hosts,
methods, header conditions and the presence of its policies. Every read of a protobuf
field makes a new Python object (a repeated field, even an empty one, a container
that is slow to iterate; a presence test is a lookup of the field by its name), so a
full compile of 10,000 routes read about 30 fields per route. `RouteFields.read` asks
protobuf once for the fields that are set (`ListFields`) and keeps the ones matching
reads, with `more` saying whether any other field is set: a route without policies,
timeouts or a body limit (most routes) is then never asked about them again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeAlias

from fleetgate_pb import config_pb2 as pb

# A route before or after it is read: both have its name, service, paths and the rest
# of what RouteFields reads, under the same names.
AnyRoute: TypeAlias = "pb.Route | RouteFields"


@dataclass(slots=True, eq=False)
class RouteFields:
    """The fields of `route` that every route's compile reads, as plain values."""

    route: pb.Route
    name: str
    # Repeated fields as lists (a read of the container, once), () when not set.
    hosts: Sequence[str]
    paths: Sequence[str]
    methods: Sequence[str]
    headers: Sequence[pb.HeaderMatch]
    priority: int
    strip_prefix: bool
    rewrite: str
    service: str
    # Some other field is set (a policy, timeouts, a body limit, https_only, tags...):
    # False means the route has none of them, as if each were read and found unset.
    more: bool

    @classmethod
    def read(cls, route: pb.Route) -> RouteFields:
        values: list[object] = [route, "", (), (), (), (), 0, False, "", "", False]
        for field, value in route.ListFields():
            slot = _SLOTS.get(field)
            if slot is None:
                values[_MORE] = True
            elif slot < 0:  # repeated: a list, not the container
                values[-slot] = value[:]
            else:
                values[slot] = value
        return cls(*values)  # type: ignore[arg-type]

    @classmethod
    def of(cls, route: AnyRoute) -> RouteFields:
        """`route` read, unless it is read already."""
        return route if isinstance(route, RouteFields) else cls.read(route)

    @staticmethod
    def message(route: AnyRoute) -> pb.Route:
        """The protobuf route of `route`, read or not."""
        return route.route if isinstance(route, RouteFields) else route


# Each field read, by its descriptor: its place among RouteFields' values (after
# `route`), negative for a repeated field.
_FIELDS = pb.Route.DESCRIPTOR.fields_by_name
_READ = ("name", "hosts", "paths", "methods", "headers", "priority", "strip_prefix", "rewrite")
_SLOTS = {
    _FIELDS[name]: -place if _FIELDS[name].is_repeated else place
    for place, name in enumerate((*_READ, "service"), 1)
}
_MORE = 10
