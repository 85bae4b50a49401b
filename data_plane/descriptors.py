"""The open-file limit: raised at start to all the system allows the process.

A control plane holds a connection per node (2,000 nodes are 2,000 descriptors, plus the
store's), a node one per client and one per upstream connection. Many systems start
processes with a soft limit of 1,024 under a hard limit hundreds of times larger; the
soft limit is the process's own to raise, as Go's runtime does for every program and
nginx does with `worker_rlimit_nofile`. Workers inherit the raised limit.
"""

from __future__ import annotations

import logging
import resource

log = logging.getLogger("fleetgate")

# Where the hard limit is unlimited, Linux still caps descriptors at fs.nr_open (1,048,576
# by default): ask for that much.
UNLIMITED_TARGET = 1_048_576


def raise_open_files_limit() -> tuple[int, int]:
    """Raise the soft RLIMIT_NOFILE to the hard limit; returns (soft before, soft after)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = UNLIMITED_TARGET if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError) as exc:
            log.warning("cannot raise the open-file limit from %d to %d: %s", soft, target, exc)
            return soft, soft
        return soft, target
    return soft, soft
