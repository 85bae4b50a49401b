"""deploy/grafana/fleetgate.json queries only metrics the node and the control plane export."""

from __future__ import annotations

import json
import re
from pathlib import Path

from control_plane.metrics import ControlPlaneMetrics
from control_plane.sync.metrics import SyncMetrics
from data_plane.metrics import FAMILIES

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "fleetgate.json"
METRIC = re.compile(r"\bfleetgate_[a-z_]+")


def exported_samples() -> set[str]:
    """Every sample name /metrics can show on a node or the control plane."""
    names: set[str] = set()
    for family, (kind, _) in FAMILIES.items():
        names.add(family)
        if kind == "histogram":
            names |= {family + "_bucket", family + "_count", family + "_sum"}
    registry = ControlPlaneMetrics().registry
    SyncMetrics(registry)
    for metric in registry.collect():
        names |= {sample.name for sample in metric.samples}
        if metric.type == "histogram":
            names.add(metric.name + "_bucket")
    return names


def test_every_query_names_an_exported_metric() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    exported = exported_samples()
    queried = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in METRIC.findall(target["expr"])
    }
    assert queried, "the dashboard queries nothing"
    assert queried <= exported, sorted(queried - exported)


def test_panels_have_unique_ids_and_a_prometheus_datasource() -> None:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    assert all(p["datasource"]["type"] == "prometheus" for p in panels)
