"""Route tables of a given size, shaped like a real API's, with the measured route inside.

Routes mix the pattern kinds operators write: `**` prefixes, exact paths and `*`
segments, over a shared `/api/vN/` stem so a router cannot tell them apart by their
first characters. The route every request hits (`orders`, `/api/v1/orders/**`) sits in
the middle of the table, not first.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

HIT_ROUTE = "orders"
HIT_PATTERN = "/api/v1/orders/**"
SERVICE_COUNT = 10

RESOURCES = (
    "users", "accounts", "invoices", "payments", "carts", "products", "reviews",
    "shipments", "refunds", "coupons", "sessions", "devices", "reports", "webhooks",
)  # fmt: skip


class Kind(Enum):
    PREFIX = "prefix"  # /a/b/** : /a/b and everything below
    EXACT = "exact"  # /a/b
    SEGMENT = "segment"  # /a/*/b/** : one free segment


@dataclass(frozen=True)
class RouteEntry:
    name: str
    kind: Kind
    # The fleetgate pattern; other proxies translate it.
    pattern: str
    service: str


def _filler(index: int) -> RouteEntry:
    resource = f"{RESOURCES[index % len(RESOURCES)]}-{index}"
    version = f"v{index % 3 + 1}"
    service = f"svc-{index % SERVICE_COUNT}"
    match index % 4:
        case 0:
            return RouteEntry(f"r{index}", Kind.PREFIX, f"/api/{version}/{resource}/**", service)
        case 1:
            return RouteEntry(f"r{index}", Kind.EXACT, f"/api/{version}/{resource}", service)
        case 2:
            pattern = f"/api/{version}/tenants/*/{resource}/**"
            return RouteEntry(f"r{index}", Kind.SEGMENT, pattern, service)
        case _:
            return RouteEntry(f"r{index}", Kind.EXACT, f"/internal/{resource}/health", service)


def route_table(count: int) -> list[RouteEntry]:
    """`count` routes, the hit route among them at the middle."""
    if count < 1:
        raise ValueError("a route table has at least the hit route")
    fillers = [_filler(i) for i in range(count - 1)]
    middle = len(fillers) // 2
    hit = RouteEntry(HIT_ROUTE, Kind.PREFIX, HIT_PATTERN, HIT_ROUTE)
    return [*fillers[:middle], hit, *fillers[middle:]]


def services(table: list[RouteEntry]) -> list[str]:
    """The service names `table` uses, sorted."""
    return sorted({entry.service for entry in table})
