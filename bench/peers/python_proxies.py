"""The Python proxies of `bench.proxies` (bare uvloop + httptools, aiohttp, FastAPI + httpx),
each one process."""

from __future__ import annotations

import sys
from pathlib import Path

from bench.peers.base import Launch, Ports, Setup
from bench.toolchain import Toolchain


class PythonProxyPeer:
    """A proxy module run with this interpreter as `python -m MODULE`."""

    def __init__(self, name: str, module: str) -> None:
        self.name = name
        self.module = module

    def __repr__(self) -> str:
        return f"<PythonProxyPeer {self.name} {self.module}>"

    def unsupported(self, setup: Setup) -> str | None:
        if setup.workers != 1:
            return "runs one process only"
        # It forwards every path: a route table changes nothing for it.
        return None

    def launch(self, tools: Toolchain, workdir: Path, ports: Ports, setup: Setup) -> Launch:
        argv = [sys.executable, "-m", self.module]
        argv += ["--listen", f"127.0.0.1:{ports.proxy}"]
        argv += ["--upstream", f"127.0.0.1:{ports.upstream}"]
        return Launch(argv)


# The Python ceiling: what uvloop and httptools cost with no feature at all.
BARE = PythonProxyPeer("bare-python", "bench.proxies.bare_proxy")
AIOHTTP = PythonProxyPeer("aiohttp", "bench.proxies.aiohttp_proxy")
FASTAPI = PythonProxyPeer("fastapi-httpx", "bench.proxies.fastapi_proxy")
