"""Finding nginx, HAProxy and wrk, installing them from Debian's packages when missing."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

TOOLS = ("nginx", "haproxy", "wrk")
# nginx and haproxy live in /usr/sbin, which is not on every user's PATH.
SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/local/sbin", "/usr/sbin", "/sbin"])


# What HAProxy (" 2026/10/17 - https://...") and wrk (" [epoll] Copyright ...") append.
TRAILER = re.compile(r"(\s+\d{4}/\d{2}/\d{2})?(\s+-\s+\S+)?(\s+\[.*)?$")


class ToolchainError(RuntimeError):
    """A tool is missing and could not be installed."""


@dataclass(frozen=True)
class Toolchain:
    nginx: Path
    haproxy: Path
    wrk: Path

    def versions(self) -> dict[str, str]:
        """The first line each tool prints about its version."""
        probes = {
            "nginx": [str(self.nginx), "-v"],
            "haproxy": [str(self.haproxy), "-v"],
            "wrk": [str(self.wrk), "-v"],
        }
        out = {}
        for name, argv in probes.items():
            done = subprocess.run(argv, capture_output=True, text=True, timeout=10)
            text = (done.stdout + done.stderr).strip()
            out[name] = short_version(text)
        return out


def short_version(text: str) -> str:
    """The first line of a `-v` output without the date, URL or copyright after it."""
    first = text.strip().splitlines()[0] if text.strip() else "unknown"
    return TRAILER.sub("", first)


def find_tool(name: str) -> Path | None:
    found = shutil.which(name, path=SEARCH_PATH)
    return Path(found) if found else None


def missing_tools() -> list[str]:
    return [name for name in TOOLS if find_tool(name) is None]


def install(names: list[str]) -> None:
    """apt-get install the Debian packages of the same names (root only)."""
    if os.geteuid() != 0:
        raise ToolchainError(
            f"missing {', '.join(names)}; install them (apt-get install -y {' '.join(names)})"
            " or run the bench as root"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *names]):
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            raise ToolchainError(f"{' '.join(argv)} failed: {done.stderr.strip()[-2000:]}")


def find_or_install(allow_install: bool = True) -> Toolchain:
    """The three tools, installed first when some are missing and `allow_install`."""
    missing = missing_tools()
    if missing:
        if not allow_install:
            raise ToolchainError(f"missing {', '.join(missing)} (and --no-install was given)")
        install(missing)
    paths = {name: find_tool(name) for name in TOOLS}
    still_missing = [name for name, path in paths.items() if path is None]
    if still_missing:
        raise ToolchainError(f"still missing after install: {', '.join(still_missing)}")
    return Toolchain(**{name: path for name, path in paths.items() if path is not None})
