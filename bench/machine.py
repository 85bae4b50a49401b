"""A description of the machine a run measured on, for the report."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def cpu_model(cpuinfo: str) -> str:
    """The CPU model name in the text of /proc/cpuinfo."""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name":
            return value.strip()
    return "unknown"


def describe() -> dict[str, str | int]:
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        cpuinfo = ""
    return {
        "cores": os.cpu_count() or 0,
        "cpu": cpu_model(cpuinfo),
        "kernel": platform.release(),
        "python": platform.python_version(),
    }
