"""When a burst of changes has settled: the timing rule of releases, with no clock of its own."""

from __future__ import annotations


class Debounce:
    """Due `quiet` seconds after the last change, and never later than `longest` after the first.

    A steady trickle of changes therefore still makes a release every `longest` seconds,
    while a burst (an `apply`, a script) makes one release instead of many.
    """

    def __init__(self, quiet: float, longest: float) -> None:
        if not 0 < quiet <= longest:
            raise ValueError("need 0 < quiet <= longest")
        self.quiet = quiet
        self.longest = longest
        self._first: float | None = None
        self._last: float | None = None

    def __repr__(self) -> str:
        return f"<Debounce pending={self.pending} due={self.due()}>"

    @property
    def pending(self) -> bool:
        return self._first is not None

    def changed(self, now: float) -> None:
        if self._first is None:
            self._first = now
        self._last = now

    def due(self) -> float | None:
        """The time to act at, or None when nothing is pending."""
        if self._first is None or self._last is None:
            return None
        return min(self._last + self.quiet, self._first + self.longest)

    def take(self) -> None:
        """Forget the pending changes: they are being acted on."""
        self._first = self._last = None
