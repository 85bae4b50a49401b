"""A route's timeouts override its service's one by one; those it leaves out are inherited."""

from __future__ import annotations

from typing import Any

from data_plane.config.model import GatewayConfig
from data_plane.config.snapshot import build_snapshot
from data_plane.metrics import WorkerMetrics
from data_plane.runtime import RoutePlan, compile_snapshot
from data_plane.settings import Limits


def plan(route_timeouts: dict[str, float] | None) -> RoutePlan:
    route: dict[str, Any] = {"name": "r", "paths": ["/r"], "service": "s"}
    if route_timeouts is not None:
        route["timeouts"] = route_timeouts
    config = GatewayConfig.model_validate(
        {
            "services": [
                {
                    "name": "s",
                    "targets": [{"address": "127.0.0.1:9001"}],
                    "timeouts": {"connect": 0.5, "read": 7.0, "total": 20.0},
                }
            ],
            "routes": [route],
        }
    )
    runtime = compile_snapshot(build_snapshot(config), limits=Limits(), metrics=WorkerMetrics())
    match = runtime.table.match("GET", "gw.test", "/r", None)
    assert match is not None and isinstance(match.route, RoutePlan)
    return match.route


def timeouts(plan: RoutePlan) -> tuple[float, float, float]:
    return plan.connect_timeout, plan.read_timeout, plan.total_timeout


def test_a_route_without_timeouts_takes_its_services() -> None:
    assert timeouts(plan(None)) == (0.5, 7.0, 20.0)


def test_a_route_setting_only_read_keeps_the_services_connect_and_total() -> None:
    assert timeouts(plan({"read": 0.3})) == (0.5, 0.3, 20.0)


def test_a_route_setting_only_connect_keeps_the_services_read_and_total() -> None:
    assert timeouts(plan({"connect": 1.5})) == (1.5, 7.0, 20.0)


def test_a_route_may_set_a_timeout_to_the_value_of_the_default() -> None:
    assert timeouts(plan({"connect": 5.0, "read": 60.0})) == (5.0, 60.0, 20.0)


def test_a_service_without_timeouts_has_the_defaults() -> None:
    config = GatewayConfig.model_validate(
        {"services": [{"name": "s", "targets": [{"address": "127.0.0.1:9001"}]}], "routes": []}
    )
    service = build_snapshot(config).services[0]
    assert (service.timeouts.connect, service.timeouts.read) == (5.0, 60.0)


def test_a_route_per_try_timeout_overrides_the_services_and_none_is_zero() -> None:
    assert plan(None).per_try_timeout == 0.0
    assert plan({"per_try": 0.2}).per_try_timeout == 0.2
