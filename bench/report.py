"""The printed tables and the JSON document of a bench run."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench.measure import PeerResult
from bench.peers import REFERENCE
from bench.scenarios import Scenario
from bench.summary import Spread, summarize, versus

COLUMNS = (
    ("peer", 14),
    ("req/s", 20),
    ("p50 ms", 7),
    ("p99 ms", 7),
    ("req/CPU-s", 10),
    ("peak RSS MB", 12),
    ("MB/worker", 9),
    ("vs nginx: req/s", 16),
    ("req/CPU-s", 10),
    ("p99", 6),
)


def compact(value: float) -> str:
    """52134.2 -> '52.1k'; small values keep their digits."""
    if value >= 10_000:
        return f"{value / 1000:.1f}k"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.2f}"


def _with_range(spread: Spread) -> str:
    if spread.low == spread.high:
        return compact(spread.median)
    return f"{compact(spread.median)} [{compact(spread.low)}-{compact(spread.high)}]"


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def peer_json(result: PeerResult, reference: PeerResult | None) -> dict[str, Any]:
    out: dict[str, Any] = {"peer": result.peer}
    if result.skipped:
        out["skipped"] = result.skipped
    if result.error:
        out["error"] = result.error
    if not result.runs:
        return out
    figures = summarize(result.runs)
    out["processes"] = result.processes
    out["failed_requests"] = sum(run.failed for run in result.runs)
    for key, part in (("median", "median"), ("min", "low"), ("max", "high")):
        out[key] = {m: None if s is None else getattr(s, part) for m, s in figures.items()}
    if reference is not None and reference.runs:
        out["vs_nginx"] = versus(figures, summarize(reference.runs))
    out["runs"] = [asdict(run) for run in result.runs]
    return out


def scenario_json(scenario: Scenario, results: list[PeerResult]) -> dict[str, Any]:
    reference = next((r for r in results if r.peer == REFERENCE), None)
    return {
        "name": scenario.name,
        "title": scenario.title,
        "group": scenario.group,
        "path": scenario.path,
        "threads": scenario.threads,
        "connections": scenario.connections,
        **asdict(scenario.setup),
        "peers": [peer_json(result, reference) for result in results],
    }


def _row(cells: list[str]) -> str:
    return "  ".join(cell.ljust(width) for cell, (_, width) in zip(cells, COLUMNS, strict=True))


def render_scenario(scenario: dict[str, Any], duration_s: int, runs: int) -> str:
    """A scenario's table: medians, [min-max] of throughput, ratios against nginx."""
    lines = [
        f"{scenario['name']}: {scenario['title']}",
        f"  wrk -t{scenario['threads']} -c{scenario['connections']}, {runs} runs of {duration_s} s,"
        f" {scenario['workers']} worker(s); median [min-max]",
        "  " + _row([name for name, _ in COLUMNS]),
    ]
    for peer in scenario["peers"]:
        if "median" not in peer or "error" in peer:
            why = peer.get("skipped") or peer.get("error") or "no runs"
            label = "skipped" if "skipped" in peer else "FAILED"
            lines.append(f"  {peer['peer']:<14}  {label}: {why}")
            continue
        median = peer["median"]
        ratios = peer.get("vs_nginx", {})
        spread = Spread(
            median["requests_per_s"], peer["min"]["requests_per_s"], peer["max"]["requests_per_s"]
        )
        cells = [
            peer["peer"],
            _with_range(spread),
            _ms(median["p50_ms"]),
            _ms(median["p99_ms"]),
            compact(median["requests_per_cpu_s"]),
            f"{median['peak_rss_mb']:.1f}",
            f"{median['worker_rss_mb']:.1f}",
            _ratio(ratios.get("requests_per_s")),
            _ratio(ratios.get("requests_per_cpu_s")),
            _ratio(ratios.get("p99_ms")),
        ]
        line = "  " + _row(cells)
        if peer["failed_requests"]:
            line += f"  ({peer['failed_requests']} failed requests)"
        if median["p99_ms"] is None:
            line += "  (no request completed within a run)"
        lines.append(line.rstrip())
    return "\n".join(lines)


def render_mapping(title: str, data: dict[str, Any]) -> str:
    """Nested figures (the config scenarios) as indented `key: value` lines."""
    lines = [title]

    def walk(node: dict[str, Any], depth: int) -> None:
        for key, value in node.items():
            if isinstance(value, dict):
                lines.append(f"{'  ' * depth}{key}:")
                walk(value, depth + 1)
            else:
                shown = f"{value:.3f}" if isinstance(value, float) else str(value)
                lines.append(f"{'  ' * depth}{key}: {shown}")

    walk(data, 1)
    return "\n".join(lines)


def write(document: dict[str, Any], directory: Path, stamp: str) -> Path:
    """The run as JSON in `directory`, also as latest.json; returns the stamped file."""
    directory.mkdir(parents=True, exist_ok=True)
    text = json.dumps(document, indent=2, default=str) + "\n"
    path = directory / f"bench-{stamp}.json"
    path.write_text(text)
    (directory / "latest.json").write_text(text)
    return path
