"""The container image's HEALTHCHECK: GET /health of whichever plane this container runs.

One image serves both planes, so the probe reads the command line of the container's
main process (PID 1, the `fleetgate` entrypoint) with the CLI's own parser, which folds
in the same `FLEETGATE_<FLAG>` variables the process saw. A control plane is probed on
its admin address, a node (and `up`) on its status address; an address that listens on
every interface is probed on loopback. Exit 0 when /health answers 200, 1 otherwise, as
Docker's HEALTHCHECK expects. `python -m control_plane.health_probe [COMMAND FLAGS...]`
probes the command given instead of PID 1's.
"""

from __future__ import annotations

import http.client
import sys
from collections.abc import Sequence
from pathlib import Path

from control_plane.cli import build_parser
from data_plane.config.syntax import parse_host_port

TIMEOUT = 2.0
# The flag holding the address /health is served on, per sub-command that serves one.
HEALTH_ADDRESS = {
    "control-plane": "admin_listen",
    "data-plane": "status_listen",
    "up": "status_listen",
}
ANY_ADDRESS = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}


def main_process_argv(cmdline: Path = Path("/proc/1/cmdline")) -> list[str]:
    """A process's `fleetgate` arguments: what follows the script or `-m control_plane.cli`."""
    parts = [p.decode() for p in cmdline.read_bytes().split(b"\0") if p]
    for index, part in enumerate(parts):
        if Path(part).name == "fleetgate" or part == "control_plane.cli":
            return parts[index + 1 :]
    raise ValueError(f"{cmdline} is not a fleetgate command line")


def health_address(argv: Sequence[str]) -> tuple[str, int]:
    """The (host, port) to probe for the `fleetgate` command line `argv`."""
    args = build_parser().parse_args(list(argv))
    setting = HEALTH_ADDRESS.get(args.command)
    if setting is None:
        raise ValueError(f"`fleetgate {args.command}` serves no /health")
    host, port = parse_host_port(getattr(args, setting))
    return ANY_ADDRESS.get(host, host), port


def probe(host: str, port: int, timeout: float = TIMEOUT) -> bool:
    """Whether GET /health on host:port answers 200 within `timeout` seconds."""
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request("GET", "/health")
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


def main(argv: Sequence[str] | None = None) -> int:
    try:
        host, port = health_address(argv or main_process_argv())
    except (OSError, ValueError) as exc:
        print(f"fleetgate health probe: {exc}", file=sys.stderr)
        return 1
    except SystemExit:  # argparse said what is wrong with the command line
        return 1
    if probe(host, port):
        return 0
    print(f"fleetgate health probe: no healthy answer from {host}:{port}/health", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
