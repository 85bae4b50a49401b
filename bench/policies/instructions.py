"""Instructions per request of one bench scenario's route, counted by callgrind.

`bench.request_cpu --scenario` times every scenario it names in one process, which is
what a timer wants and what an instruction count cannot separate. This replays one
scenario's request alone (the node config and request of `bench.request_cpu`'s
`scenario_replay`: the route's policies, the credential wrk sends), after the same
warm-up, twice under callgrind, `--requests` and then three times as many: the
difference over the extra requests is what one request costs, with the process's
start, the compile and the warm-up cancelled out. Callgrind counts instructions, so
the figure does not move with the machine's load. Both runs get the same JWT key and
token, made once here: a new RSA key per run would cost each a different number of
instructions.

    python -m bench.policies.instructions --scenario plain policies auth-jwt
    python -m bench.policies.instructions --requests 500   # shorter runs
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.peers import fleetgate
from bench.request_cpu import SCENARIOS, Replayer, scenario_replay

WARM_UP = 2000
_TOTAL = re.compile(rb"^summary:\s+(\d+)", re.MULTILINE)


def replay(name: str, requests: int, jwt_material: Path) -> None:
    """Replay `name`'s request WARM_UP times, then `requests` times, with the JWT key
    and token in `jwt_material`."""
    pem, token = json.loads(jwt_material.read_text())
    fleetgate.jwt_material = lambda: (pem, token)  # type: ignore[assignment]
    replayer = Replayer(replay=scenario_replay(name))
    try:
        replayer.run(WARM_UP)
        replayer.run(requests)
    finally:
        replayer.close()


def instructions(name: str, requests: int, jwt_material: Path) -> int:
    """Instructions callgrind counts in a process replaying `name` `requests` times."""
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "callgrind.out"
        command = [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={out}",
            sys.executable,
            "-m",
            "bench.policies.instructions",
            "--replay",
            name,
            "--requests",
            str(requests),
            "--jwt-material",
            str(jwt_material),
        ]
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        subprocess.run(command, check=True, env=env, capture_output=True)
        found = _TOTAL.search(out.read_bytes())
        if found is None:
            raise RuntimeError(f"no summary line in callgrind's output for {name}")
        return int(found.group(1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.policies.instructions", description=__doc__
    )
    parser.add_argument("--scenario", nargs="+", choices=SCENARIOS, default=["plain"])
    parser.add_argument("--requests", type=int, default=1000, help="the shorter run's requests")
    parser.add_argument("--replay", choices=SCENARIOS, help=argparse.SUPPRESS)
    parser.add_argument("--jwt-material", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.replay:
        replay(args.replay, args.requests, args.jwt_material)
        return 0
    print(
        f"instructions per request, ({3 * args.requests}-run - {args.requests}-run)"
        f" / {2 * args.requests}, after {WARM_UP} warm-up requests"
    )
    with tempfile.TemporaryDirectory() as scratch:
        material = Path(scratch) / "jwt.json"
        material.write_text(json.dumps(fleetgate.jwt_material()))
        for name in args.scenario:
            short = instructions(name, args.requests, material)
            long = instructions(name, 3 * args.requests, material)
            print(f"  {name:14s} {(long - short) / (2 * args.requests):10,.0f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
