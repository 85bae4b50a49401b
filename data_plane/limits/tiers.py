"""Tiers as the limits see them: compiled once per snapshot, looked up per request."""

from __future__ import annotations

from dataclasses import dataclass

from fleetgate_pb import config_pb2 as pb

from .gcra import WINDOW_SECONDS, Window


def windows_of(message: pb.RateLimitPolicy | pb.Tier, ticks_per_second: int) -> tuple[Window, ...]:
    """The windows a rate-limit policy or a tier sets (0: not set), shortest first."""
    limits = (
        message.requests_per_second,
        message.requests_per_minute,
        message.requests_per_hour,
        message.requests_per_day,
    )
    return tuple(
        Window.of(slot, limit, ticks_per_second) for slot, limit in enumerate(limits) if limit
    )


def policy_items(prefix: str, windows: tuple[Window, ...]) -> list[bytes]:
    """RateLimit-Policy items, one per window: `"minute";q=100;w=60`."""
    return [
        b'"%s%s";q=%d;w=%d' % (prefix.encode(), w.name.encode(), w.limit, WINDOW_SECONDS[w.slot])
        for w in windows
    ]


@dataclass(frozen=True, slots=True)
class TierLimits:
    """One tier's limits, in the units of a backend's clock."""

    name: str
    windows: tuple[Window, ...]
    items: tuple[bytes, ...]  # RateLimit-Policy items of the windows
    monthly_quota: int  # 0: none
    max_concurrent: int  # 0: none
    priority: int  # higher is served first


class TierBook:
    """The tiers of a snapshot by name, and the tier of each tenant."""

    __slots__ = ("tenants", "tiers")

    def __init__(self, snapshot: pb.Snapshot | None, ticks_per_second: int) -> None:
        self.tiers: dict[str, TierLimits] = {}
        self.tenants: dict[str, str] = {}
        if snapshot is None:
            return
        for tier in snapshot.tiers:
            windows = windows_of(tier, ticks_per_second)
            self.tiers[tier.name] = TierLimits(
                tier.name,
                windows,
                tuple(policy_items(f"{tier.name}-", windows)),
                tier.monthly_quota,
                tier.max_concurrent_requests,
                tier.priority,
            )
        self.tenants = {tenant.name: tenant.tier for tenant in snapshot.tenants}

    def of(self, tier: str | None, tenant: str | None) -> TierLimits | None:
        """The tier of a caller: the one named, else its tenant's, else None."""
        if tier is None and tenant is not None:
            tier = self.tenants.get(tenant)
        return None if tier is None else self.tiers.get(tier)

    def __repr__(self) -> str:
        return f"<TierBook tiers={sorted(self.tiers)} tenants={len(self.tenants)}>"
