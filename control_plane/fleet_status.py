"""What the fleet is doing, as the CLI shows it: `fleetgate status`, and `apply --wait`.

`release_progress` is pure: from the node inventory (as `GET /api/v1/nodes` gives it)
and a release version it tells which connected nodes took the release (ACK: they
serve it or a newer one), which refused it (NACK, with their error) and which have not
answered yet. OFFLINE nodes are not waited for.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO

from .admin_client import AdminClient, CliError

POLL_INTERVAL = 0.25  # seconds between two reads of the inventory while waiting
NODES_PAGE = 1000  # the API's largest page


@dataclass(slots=True)
class Progress:
    """Where the connected nodes stand with one release."""

    version: int
    acked: list[str] = field(default_factory=list)
    nacked: dict[str, str] = field(default_factory=dict)  # node id -> its error
    pending: list[str] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return not self.pending

    @property
    def ok(self) -> bool:
        return self.done and not self.nacked


def release_progress(nodes: Iterable[Mapping[str, Any]], version: int) -> Progress:
    progress = Progress(version)
    for node in sorted(nodes, key=lambda n: str(n["id"])):
        if node["status"] == "OFFLINE":
            continue
        applied = node.get("applied_version") or 0
        if node.get("rejected_version") == version and applied < version:
            progress.nacked[node["id"]] = node.get("last_error") or "refused"
        elif applied >= version:
            progress.acked.append(node["id"])
        else:
            progress.pending.append(node["id"])
    return progress


def list_nodes(client: AdminClient) -> list[dict[str, Any]]:
    """Every node of the inventory, page after page."""
    nodes: list[dict[str, Any]] = []
    while True:
        page = client.call(
            "GET", "/api/v1/nodes", params={"limit": NODES_PAGE, "offset": len(nodes)}
        )
        nodes += page["items"]
        if not page["items"] or len(nodes) >= page["total"]:
            return nodes


def wait_for_release(
    client: AdminClient,
    version: int,
    timeout: float,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Progress:
    """Poll the inventory until every connected node ACKed or NACKed `version`, or `timeout`."""
    deadline = clock() + timeout
    while True:
        progress = release_progress(list_nodes(client), version)
        if progress.done or clock() >= deadline:
            return progress
        sleep(min(POLL_INTERVAL, max(0.0, deadline - clock())))


def report_progress(progress: Progress, timeout: float, out: TextIO | None = None) -> int:
    """Print the outcome of a wait; the exit code: 0 when every connected node took it."""
    out = out or sys.stderr
    v = progress.version
    if not (progress.acked or progress.nacked or progress.pending):
        print(f"fleetgate: release {v}: no node is connected; nothing to wait for", file=out)
        return 0
    if progress.acked:
        print(f"fleetgate: release {v} applied by {_listed(progress.acked)}", file=out)
    for node_id, error in progress.nacked.items():
        print(f"fleetgate: release {v} refused (NACK) by {node_id}: {error}", file=out)
    if progress.pending:
        print(
            f"fleetgate: release {v}: no answer within {timeout:g} s from "
            f"{_listed(progress.pending)}",
            file=out,
        )
    return 0 if progress.ok else 1


def _listed(ids: list[str], most: int = 20) -> str:
    shown = ", ".join(ids[:most])
    more = f" and {len(ids) - most} more" if len(ids) > most else ""
    return f"{len(ids)} node{'s' if len(ids) != 1 else ''} ({shown}{more})"


# ---------------------------------------------------------------- fleetgate status


def run_status(args: argparse.Namespace) -> int:
    """Control plane health, the latest release and a table of nodes; 1 if unhealthy."""
    client = AdminClient(args.admin_url, None)
    try:
        client.call("GET", "/health")
    except CliError as exc:
        print(f"control plane  {client.base_url}  DOWN: {exc}")
        return 1
    print(f"control plane  {client.base_url}  ok")
    try:
        client = AdminClient.from_args(args)
        latest = _latest_release(client)
        nodes = list_nodes(client)
    except CliError as exc:
        print(f"fleetgate: {exc}", file=sys.stderr)
        return 1
    if latest is None:
        print("release        none yet (the store holds no config)")
    else:
        print(
            f"release        v{latest['version']}  {latest['hash'][:12]}  "
            f"{_when(latest['created_at'])}  by {latest['author']}"
        )
    print(render_nodes(nodes, datetime.now(UTC)), end="")
    return 0


def _latest_release(client: AdminClient) -> dict[str, Any] | None:
    items: list[dict[str, Any]] = client.call("GET", "/api/v1/releases", params={"limit": 1})[
        "items"
    ]
    return items[0] if items else None


def render_nodes(nodes: list[dict[str, Any]], now: datetime) -> str:
    """The nodes table of `fleetgate status`."""
    counts: dict[str, int] = {}
    for node in nodes:
        counts[node["status"]] = counts.get(node["status"], 0) + 1
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    lines = [f"nodes          {len(nodes)}" + (f" ({summary})" if summary else "")]
    if not nodes:
        return "\n".join(lines) + "\n"
    header = ("ID", "STATUS", "VERSION", "LABELS", "LAST SEEN", "LAST ERROR")
    rows = [
        (
            node["id"],
            node["status"],
            f"v{node['applied_version']}" if node.get("applied_version") else "-",
            ",".join(f"{k}={v}" for k, v in sorted(node.get("labels", {}).items())) or "-",
            _ago(node["last_seen"], now),
            (node.get("last_error") or "-").splitlines()[0][:60],
        )
        for node in nodes
    ]
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    for row in (header, *rows):
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines) + "\n"


def _when(stamp: str) -> str:
    return datetime.fromisoformat(stamp).strftime("%Y-%m-%d %H:%M:%S %Z").strip()


def _ago(stamp: str, now: datetime) -> str:
    seen = datetime.fromisoformat(stamp)
    if seen.tzinfo is None:
        seen = seen.replace(tzinfo=UTC)
    seconds = max(0, int((now - seen).total_seconds()))
    if seconds < 120:
        return f"{seconds} s ago"
    if seconds < 7200:
        return f"{seconds // 60} min ago"
    return f"{seconds // 3600} h ago"
