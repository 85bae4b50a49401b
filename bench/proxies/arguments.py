"""The command line every comparison proxy takes: where to listen, where to forward."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from data_plane.config.syntax import parse_host_port


@dataclass(frozen=True, slots=True)
class ProxyArguments:
    listen: tuple[str, int]  # (host, port) to serve on
    upstream: tuple[str, int]  # (host, port) to forward to

    @property
    def upstream_address(self) -> str:
        return f"{self.upstream[0]}:{self.upstream[1]}"


def proxy_arguments(description: str) -> ProxyArguments:
    """`--listen HOST:PORT --upstream HOST:PORT`, read the way fleetgate reads addresses."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--listen", required=True, help="HOST:PORT to serve on")
    parser.add_argument("--upstream", required=True, help="HOST:PORT to forward to")
    args = parser.parse_args()
    try:
        return ProxyArguments(parse_host_port(args.listen), parse_host_port(args.upstream))
    except ValueError as exc:
        parser.error(str(exc))
