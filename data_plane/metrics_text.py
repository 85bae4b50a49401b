"""The Prometheus text of summed samples, rendered by prometheus-client in the supervisor.

A custom collector gives the client a `SampleSum` as metric families, one per entry of
`FAMILIES`; the workers only count, so only the supervisor imports this module (and
prometheus-client with it) when `/metrics` is scraped.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from data_plane.metrics import FAMILIES, LATENCY_BOUNDS, Labels, SampleSum


def render(total: SampleSum) -> bytes:
    """The Prometheus text of every family in FAMILIES that has samples in `total`."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_SumCollector(total))
    return generate_latest(registry)


class _SumCollector(Collector):
    """prometheus-client's view of a SampleSum: one metric family per FAMILIES entry."""

    def __init__(self, total: SampleSum) -> None:
        self.total = total

    def collect(self) -> Iterator[Metric]:
        values: dict[str, list[tuple[Labels, float]]] = {}
        for (name, labels), value in self.total.values.items():
            values.setdefault(name, []).append((labels, value))
        histograms: dict[str, list[tuple[Labels, tuple[list[int], float]]]] = {}
        for (name, labels), histogram in self.total.histograms.items():
            histograms.setdefault(name, []).append((labels, histogram))
        for family, (kind, help_text) in FAMILIES.items():
            rows = sorted(values.get(family, ()))
            hists = sorted(histograms.get(family, ()))
            if not rows and not hists:
                continue
            metric: Metric
            if kind == "counter":
                metric = CounterMetricFamily(family, help_text)
                sample = metric.name + "_total"
            elif kind == "histogram":
                metric = HistogramMetricFamily(family, help_text)
                sample = family
            else:
                metric = GaugeMetricFamily(family, help_text)
                sample = family
            for labels, value in rows:
                metric.add_sample(sample, dict(labels), value)
            for labels, (buckets, total) in hists:
                _add_histogram(metric, family, dict(labels), buckets, total)
            yield metric


_BUCKET_LABELS = tuple(floatToGoString(bound) for bound in (*LATENCY_BOUNDS, float("inf")))


def _add_histogram(
    metric: Metric, family: str, labels: dict[str, str], buckets: list[int], total: float
) -> None:
    cumulative = 0
    for le, count in zip(_BUCKET_LABELS, buckets, strict=True):
        cumulative += count
        metric.add_sample(family + "_bucket", {**labels, "le": le}, cumulative)
    metric.add_sample(family + "_count", labels, cumulative)
    metric.add_sample(family + "_sum", labels, total)
