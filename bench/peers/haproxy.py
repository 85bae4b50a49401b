"""HAProxy as a reverse proxy: one thread per worker asked for, default connection reuse."""

from __future__ import annotations

from pathlib import Path

from bench.peers.base import Launch, Ports, Setup
from bench.toolchain import Toolchain


def config(ports: Ports, setup: Setup) -> str:
    return f"""
global
    nbthread {setup.workers}
    maxconn 4096

defaults
    mode http
    option forwardfor
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout http-keep-alive 60s

frontend bench
    bind 127.0.0.1:{ports.proxy}
    default_backend upstream

backend upstream
    server upstream 127.0.0.1:{ports.upstream}
"""


class HaproxyPeer:
    name = "haproxy"

    def unsupported(self, setup: Setup) -> str | None:
        # HAProxy forwards every path: a route table changes nothing for it.
        return None

    def launch(self, tools: Toolchain, workdir: Path, ports: Ports, setup: Setup) -> Launch:
        path = workdir / "haproxy.cfg"
        path.write_text(config(ports, setup))
        # -db: stay in the foreground, so the harness owns the process.
        return Launch([str(tools.haproxy), "-db", "-f", str(path)])
