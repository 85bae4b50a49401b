"""Defaults a config model writes and a node assumes, said once for both.

The model (pydantic) and the node's runtime (which must not import pydantic) both need
them: the model fills them into every snapshot it builds, and the runtime falls back to
them when a snapshot leaves a value unset (0).
"""

from __future__ import annotations

CONNECT_TIMEOUT = 5.0  # seconds to open a connection to a target
READ_TIMEOUT = 60.0  # seconds of silence from a target before 504
RATE_LIMIT_DECISION_DEADLINE = 0.05  # seconds Redis has to decide before the fail mode applies
