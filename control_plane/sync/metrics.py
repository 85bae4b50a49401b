"""Config-sync metrics of the control plane, in the admin API's Prometheus registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Commit -> ACK: the target is 250 ms p99 on 100 nodes, so resolve well below and above it.
PROPAGATION_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class SyncMetrics:
    """Connected nodes, commit -> ACK propagation, NACKs and snapshot bytes."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.connected_nodes = Gauge(
            "fleetgate_sync_connected_nodes",
            "Data-plane nodes with an open config-sync stream to this replica",
            registry=registry,
        )
        self.propagation = Histogram(
            "fleetgate_sync_propagation_seconds",
            "Time from a release's commit to a node's ACK of it",
            buckets=PROPAGATION_BUCKETS,
            registry=registry,
        )
        self.nacks = Counter(
            "fleetgate_sync_nacks",
            "Snapshots rejected by a node",
            registry=registry,
        )
        self.pushes = Counter(
            "fleetgate_sync_pushes",
            "Snapshots sent to nodes",
            registry=registry,
        )
        self.pushed_bytes = Counter(
            "fleetgate_sync_pushed_bytes",
            "Snapshot bytes sent to nodes",
            registry=registry,
        )
        self.snapshot_bytes = Gauge(
            "fleetgate_sync_snapshot_bytes",
            "Size of the latest release's serialized snapshot",
            registry=registry,
        )
        self.release_version = Gauge(
            "fleetgate_sync_release_version",
            "Version of the latest release this replica serves",
            registry=registry,
        )
