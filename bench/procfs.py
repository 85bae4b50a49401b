"""CPU time and peak memory of a proxy and its workers, read from /proc.

A proxy is a process tree (nginx: master and workers; fleetgate: a node and its
workers), so every figure is summed over the tree. CPU time is utime + stime of each
process (all its threads included), in clock ticks converted to seconds; peak memory is
each process's VmHWM, its resident high-water mark since it started.
"""

from __future__ import annotations

import os
from pathlib import Path

PROC = Path("/proc")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def parse_stat(text: str) -> tuple[int, int]:
    """(parent pid, utime + stime in ticks) from the text of /proc/<pid>/stat."""
    # The command name (field 2) is in parentheses and may hold spaces or ')'; the
    # fields after the last ')' are plain numbers: state, ppid, ... utime is field 14.
    fields = text[text.rindex(")") + 2 :].split()
    ppid = int(fields[1])
    utime, stime = int(fields[11]), int(fields[12])
    return ppid, utime + stime


def parse_vmhwm(text: str) -> int:
    """Peak resident set size in bytes from the text of /proc/<pid>/status."""
    for line in text.splitlines():
        if line.startswith("VmHWM:"):
            value, unit = line.split()[1:3]
            if unit != "kB":
                raise ValueError(f"unexpected VmHWM unit {unit!r}")
            return int(value) * 1024
    # Kernel threads and zombies have no memory lines.
    return 0


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None


def process_tree(root: int, proc: Path = PROC) -> list[int]:
    """`root` and all its live descendants."""
    children: dict[int, list[int]] = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        text = _read(entry / "stat")
        if text is None:
            continue
        ppid, _ = parse_stat(text)
        children.setdefault(ppid, []).append(int(entry.name))
    tree, pending = [], [root]
    while pending:
        pid = pending.pop()
        if (proc / str(pid)).exists():
            tree.append(pid)
            pending.extend(children.get(pid, ()))
    return sorted(tree)


def cpu_times(pids: list[int], proc: Path = PROC) -> dict[int, float]:
    """User + system CPU seconds spent so far by each of `pids` still alive."""
    times = {}
    for pid in pids:
        text = _read(proc / str(pid) / "stat")
        if text is not None:
            times[pid] = parse_stat(text)[1] / CLOCK_TICKS
    return times


def cpu_seconds_between(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds spent between two `cpu_times` samples; a process born in between
    counts from zero."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


def peak_rss_by_pid(pids: list[int], proc: Path = PROC) -> dict[int, int]:
    """Each live process's resident high-water mark, read once."""
    peaks = {}
    for pid in pids:
        text = _read(proc / str(pid) / "status")
        if text is not None:
            peaks[pid] = parse_vmhwm(text)
    return peaks


def peak_rss_bytes(pids: list[int], proc: Path = PROC) -> int:
    """Sum of each process's resident high-water mark."""
    return sum(peak_rss_by_pid(pids, proc).values())


def worker_rss_bytes(root: int, peaks: dict[int, int]) -> float:
    """Mean peak resident size of a proxy's workers: the children of a master (nginx,
    a fleetgate node), or the one process of a single-process proxy. `peaks` is one
    reading of the whole tree, so a worker's figure never exceeds the tree's."""
    workers = [pid for pid in peaks if pid != root] or [root]
    return sum(peaks.get(pid, 0) for pid in workers) / len(workers)
