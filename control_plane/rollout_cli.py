"""`fleetgate rollout start|status|promote|rollback`: blue/green rollouts from the shell.

`start` reads a declarative file (as `apply -f` does) or names a release, with one
selector (`--percent N [--by KEY]`, `--header NAME=VALUE` or `--nodes KEY=VALUE`) and
an optional gate; `status` prints both sides' figures and the gate's verdict so far.
Every refusal of the admin API is printed as it came, naming the field, with exit 1.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .admin_client import AdminClient, CliError
from .declarative import read_config

PATH = "/api/v1/rollouts"
GATE_FLAGS = {
    "soak": "soak",
    "min_requests": "min_requests",
    "max_error_rate_delta": "max_error_rate_delta",
    "max_p99_ratio": "max_p99_ratio",
}


def run_rollout(args: argparse.Namespace) -> int:
    try:
        client = AdminClient.from_args(args)
        if args.rollout_command == "start":
            rollout = client.call("POST", PATH, json=start_body(args))
        elif args.rollout_command == "status":
            rollout = client.call("GET", f"{PATH}/current")
        else:
            rollout = client.call("POST", f"{PATH}/current/{args.rollout_command}")
    except CliError as exc:
        print(f"fleetgate: {exc}", file=sys.stderr)
        return 1
    print(render(rollout), end="")
    return 0


def start_body(args: argparse.Namespace) -> dict[str, Any]:
    """The body of `POST /api/v1/rollouts` the flags describe; CliError names a bad flag."""
    body: dict[str, Any] = {"selector": selector(args)}
    if args.file is not None:
        body["config"] = read_config(args.file).to_file_dict(secrets=True)
    else:
        body["release"] = args.release
    gate = {key: getattr(args, attr) for key, attr in GATE_FLAGS.items()}
    gate = {key: value for key, value in gate.items() if value is not None}
    if gate:
        body["gate"] = gate
    return body


def selector(args: argparse.Namespace) -> dict[str, Any]:
    if args.by is not None and args.percent is None:
        raise CliError("--by: only with --percent")
    if args.percent is not None:
        chosen: dict[str, Any] = {"percent": args.percent}
        if args.by is not None:
            chosen["by"] = args.by
        return chosen
    if args.header is not None:
        name, value = _pair(args.header, "--header", "NAME=VALUE")
        return {"header": {"name": name, "value": value}}
    key, value = _pair(args.nodes, "--nodes", "KEY=VALUE")
    return {"nodes": {key: value}}


def _pair(text: str, flag: str, shape: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise CliError(f"{flag}: expected {shape}, got {text[:64]!r}")
    return key, value


def describe_selector(chosen: dict[str, Any]) -> str:
    if "nodes" in chosen:
        labels = ", ".join(f"{k}={v}" for k, v in chosen["nodes"].items())
        return f"every request of the nodes labelled {labels}"
    if "header" in chosen:
        return f"requests with {chosen['header']['name']}: {chosen['header']['value']}"
    return f"{chosen['percent']}% of clients, sticky by {chosen.get('by', 'client_ip')}"


def render(rollout: dict[str, Any]) -> str:
    lines = [
        f"rollout {rollout['id']}: {rollout['state']}, release {rollout['active_version']}"
        f" active, candidate {rollout['candidate_version']}",
        f"started {rollout['started_at']} by {rollout['started_by']}",
        f"candidate serves: {describe_selector(rollout['selector'])}",
    ]
    gate = rollout.get("gate")
    if gate is None:
        lines.append("gate: none (promote or roll back by hand)")
    else:
        lines.append(
            f"gate: soak {gate['soak']:g} s, at least {gate['min_requests']} candidate requests,"
            f" 5xx rate at most +{gate['max_error_rate_delta']:g},"
            f" p99 at most x{gate['max_p99_ratio']:g}"
        )
        if rollout.get("verdict"):
            lines.append(f"gate verdict so far: {rollout['verdict']}")
    if rollout.get("reason"):
        lines.append(f"ended {rollout['ended_at']}: {rollout['reason']}")
    lines.append(f"{'':<10} {'requests':>10} {'5xx rate':>9} {'p99 ms':>9}")
    for side in ("active", "candidate"):
        figures = rollout["figures"][side]
        lines.append(
            f"{side:<10} {figures['requests']:>10} {figures['error_rate']:>9.4f}"
            f" {figures['p99_ms']:>9.1f}"
        )
    for node in rollout.get("nodes", []):
        error = f": {node['error']}" if node.get("error") else ""
        lines.append(f"node {node['id']}: candidate {node['candidate']}{error}")
    return "\n".join(lines) + "\n"
