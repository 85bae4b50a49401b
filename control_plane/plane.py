"""The parts of a running control plane that its servers share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from .admin_auth import AdminAuth
from .metrics import ControlPlaneMetrics
from .releases import ReleaseMaker
from .settings import ControlPlaneSettings
from .store.db import Database


@dataclass(eq=False)
class ControlPlane:
    """Store, release maker, metrics and admin auth of one control-plane process.

    The admin API and the config-sync service both hold it: releases are made by
    `releases` and heard of through `releases.subscribe`, metrics registered in
    `metrics.registry`.
    """

    settings: ControlPlaneSettings
    db: Database
    releases: ReleaseMaker
    metrics: ControlPlaneMetrics
    admin: AdminAuth
    # Called (from any thread) after a rollout starts or ends: config sync tells nodes.
    rollout_listeners: list[Callable[[], None]] = field(default_factory=list)

    def rollout_changed(self) -> None:
        for listener in list(self.rollout_listeners):
            listener()

    @classmethod
    def build(
        cls,
        settings: ControlPlaneSettings,
        db: Database,
        admin: AdminAuth,
        releases: ReleaseMaker | None = None,
    ) -> ControlPlane:
        metrics = ControlPlaneMetrics()
        releases = releases or ReleaseMaker(db)
        releases.subscribe(metrics.observe_release)
        return cls(settings, db, releases, metrics, admin)

    def close(self) -> None:
        self.db.dispose()
