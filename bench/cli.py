"""`python -m bench`: options to pick scenarios, peers, duration and runs."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from bench.peers import PEERS
from bench.run import CONFIG_SCENARIOS, RESULTS, Options, UpstreamError, run
from bench.scenarios import all_scenarios
from bench.toolchain import ToolchainError

SCALING = "scaling"
QUICK_SCENARIOS = ["plain"]


def scenario_names() -> list[str]:
    """Every name --scenarios takes, in run order; scaling stands for the workers-N ones."""
    names = [s.name for s in all_scenarios(cores=64) if not s.group]
    return [*names, SCALING, CONFIG_SCENARIOS]


def expand(names: list[str], cores: int) -> list[str]:
    """Scenario names with `scaling` replaced by this machine's workers-N scenarios."""
    out = []
    for name in names:
        out.append(name)
        if name == SCALING:
            out += [s.name for s in all_scenarios(cores) if s.group == SCALING]
    return out


def _names(value: str, known: list[str], what: str) -> list[str]:
    if value == "all":
        return list(known)
    names = [v.strip() for v in value.split(",") if v.strip()]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown {what}: {', '.join(unknown)} (choose from {', '.join(known)} or all)"
        )
    return names


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="fleetgate's data plane measured against nginx, HAProxy, a bare uvloop + "
        "httptools proxy, aiohttp and "
        "FastAPI + httpx proxies, all in one run.",
    )
    parser.add_argument(
        "--scenarios",
        help=f"comma-separated, or all (the default): {', '.join(scenario_names())}",
    )
    parser.add_argument(
        "--peers", default="all", help=f"comma-separated, or all (default): {', '.join(PEERS)}"
    )
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run (5)")
    parser.add_argument("--runs", type=int, default=3, help="measured runs per proxy (3)")
    parser.add_argument("--warmup", type=int, default=1, help="seconds of unmeasured load (1)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 1 run of 1 s, no warm-up, the plain scenario unless --scenarios is given",
    )
    parser.add_argument("--output-dir", type=Path, default=RESULTS, help="where JSON goes")
    parser.add_argument(
        "--no-install", action="store_true", help="fail instead of apt-get installing tools"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    given = list(sys.argv[1:] if argv is None else argv)
    try:
        if args.scenarios is None:
            scenarios = QUICK_SCENARIOS if args.quick else scenario_names()
        else:
            scenarios = _names(args.scenarios, scenario_names(), "scenario")
        peers = _names(args.peers, list(PEERS), "peer")
    except argparse.ArgumentTypeError as exc:
        parser.error(str(exc))
    for flag in ("duration", "runs"):
        if getattr(args, flag) < 1:
            parser.error(f"--{flag} must be at least 1")
    if args.warmup < 0:
        parser.error("--warmup must not be negative")
    options = Options(
        scenarios=expand(scenarios, os.cpu_count() or 1),
        peers=peers,
        duration_s=1 if args.quick else args.duration,
        runs=1 if args.quick else args.runs,
        warmup_s=0 if args.quick else args.warmup,
        output_dir=args.output_dir,
        allow_install=not args.no_install,
        command=" ".join(["python -m bench", *given]),
    )
    try:
        document = run(options)
    except (ToolchainError, UpstreamError) as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    failed = [
        f"{scenario['name']}/{peer['peer']}"
        for scenario in document["scenarios"]
        for peer in scenario["peers"]
        if "error" in peer
    ]
    if failed:
        print(f"bench: failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0
