"""The control plane keeps what start-up made out of the collector's full passes."""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path

import pytest

from control_plane import server
from control_plane.server import Service, keep_startup_out_of_full_collections
from control_plane.settings import ControlPlaneSettings

ADMIN_TOKEN = "startup-freeze-admin-token-0123456789"


def test_what_exists_at_the_freeze_is_left_out_of_every_generation() -> None:
    made_at_startup = [object()]  # a container, so the collector tracks it
    try:
        keep_startup_out_of_full_collections()
        assert not any(tracked is made_at_startup for tracked in gc.get_objects())
    finally:
        gc.unfreeze()


def test_the_control_plane_freezes_before_it_serves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    frozen_when_serving: list[int] = []

    async def run_services(services: list[Service]) -> int:
        frozen_when_serving.append(gc.get_freeze_count())
        for service in services:
            service.run.close()  # never started
        return 0

    monkeypatch.setattr(server, "run_services", run_services)
    settings = ControlPlaneSettings(
        db=f"sqlite:///{tmp_path / 'store.db'}", admin_token=ADMIN_TOKEN
    )
    try:
        assert asyncio.run(server.serve(settings)) == 0
    finally:
        gc.unfreeze()
    assert frozen_when_serving[0] > 0
