"""`/stats`: the node's counters as JSON for a human with curl, grouped the way one asks.

The same sums `/metrics` renders (`SampleSum`), regrouped: per route its answers by
status class; per service its latency quantiles, connections, tries by outcome and
timeouts by kind, and per target its tries, failures, open connections and breaker;
then the node's own figures (config, workers, client connections).
"""

from __future__ import annotations

from typing import Any

from data_plane.metrics import SampleSum, quantile


def stats_document(total: SampleSum, node: dict[str, Any]) -> dict[str, Any]:
    """`node`: the supervisor's own facts (version, uptime, workers...), shown first."""
    routes: dict[str, dict[str, Any]] = {}
    services: dict[str, dict[str, Any]] = {}
    figures: dict[str, float] = {}

    def service(name: str) -> dict[str, Any]:
        return services.setdefault(name, {"targets": {}})

    for (family, labels), value in sorted(total.values.items()):
        by = dict(labels)
        name = by.get("service")
        number = int(value) if float(value).is_integer() else value
        if family == "fleetgate_requests_total":
            route = routes.setdefault(by["route"] or "(none)", {"service": name or None})
            route[by["code"]] = number
        elif "target" in by and name is not None:
            target = service(name)["targets"].setdefault(by["target"], {})
            key = family.removeprefix("fleetgate_target_").removesuffix("_total")
            if key == "breaker":
                target["breaker"] = by["state"]
            else:
                target[key] = number
        elif name is not None:
            key = family.removeprefix("fleetgate_upstream_").removesuffix("_total")
            detail = by.get("outcome") or by.get("kind")
            if detail is None:
                service(name)[key] = number
            else:
                service(name).setdefault(key, {})[detail] = number
        elif not labels:
            figures[family.removeprefix("fleetgate_")] = number
    for (family, labels), (buckets, seconds) in sorted(total.histograms.items()):
        by = dict(labels)
        if family == "fleetgate_request_duration_seconds" and "service" in by:
            count = sum(buckets)
            service(by["service"]).update(
                requests=count,
                mean_ms=round(seconds / count * 1000, 3) if count else 0.0,
                p50_ms=round(quantile(buckets, 0.5) * 1000, 3),
                p99_ms=round(quantile(buckets, 0.99) * 1000, 3),
            )
    return {**node, "figures": figures, "routes": routes, "services": services}
