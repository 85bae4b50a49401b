"""Log lines about refused streams, at a bounded rate.

Whoever can reach the sync port can open streams with a wrong token as fast as they
like; one warning per attempt would let them fill the control plane's disk and bury
every other line. The first refusal of a kind is logged at once, later ones at most
once per `interval`, with the count of those not logged in between.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable


class RefusalLog:
    """A warning per kind of refusal at most once per `interval` seconds."""

    def __init__(
        self,
        logger: logging.Logger,
        interval: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._logger = logger
        self._interval = interval
        self._clock = clock
        # kind -> (when it was last logged, refusals held back since)
        self._kinds: dict[str, tuple[float, int]] = {}

    def warning(self, kind: str, message: str, *args: object) -> bool:
        """Log `message` unless `kind` was logged within the interval; True when logged."""
        now = self._clock()
        last = self._kinds.get(kind)
        if last is not None and now - last[0] < self._interval:
            self._kinds[kind] = (last[0], last[1] + 1)
            return False
        held = 0 if last is None else last[1]
        suffix = f" ({held} more not logged in the last {self._interval:g} s)" if held else ""
        self._logger.warning(message + suffix, *args)
        self._kinds[kind] = (now, 0)
        return True

    def __repr__(self) -> str:
        return f"<RefusalLog every {self._interval:g}s kinds={sorted(self._kinds)}>"
