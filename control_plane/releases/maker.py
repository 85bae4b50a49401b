"""Makes a release after committed changes, debounced, and tells subscribers about it.

`changed()` may be called from any thread (the admin API's handlers run in a thread
pool); the release itself is made by `run()`, a long-running coroutine on the control
plane's event loop, which does the SQL in a worker thread. Subscribers (the config-sync
service, metrics) are called on that loop after each new release, in order.

Changes are numbered (`changed()` returns the number); `released(n)` waits on the loop
until change `n` is in a release - or needed none - so a write can answer with the
release it produced.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
import time
from collections.abc import Awaitable, Callable

from ..store.db import Database
from ..store.releases import Release, make_release
from .debounce import Debounce

log = logging.getLogger(__name__)

Subscriber = Callable[[Release], Awaitable[None] | None]

QUIET = 0.05  # seconds without a change before releasing
LONGEST = 1.0  # seconds at most between a change and its release
RETRY_AFTER = 1.0  # seconds before trying again when the store failed
STARTUP_AUTHOR = "control-plane"


class ReleaseMaker:
    """Turns committed changes into releases: debounced, one at a time, never empty."""

    def __init__(
        self,
        db: Database,
        *,
        quiet: float = QUIET,
        longest: float = LONGEST,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.db = db
        self._clock = clock
        # Shared with the threads that report changes.
        self._lock = threading.Lock()
        self._debounce = Debounce(quiet, longest)
        self._author = STARTUP_AUTHOR
        self._changes = 0  # changes reported so far
        self._released = 0  # changes covered by the releases made so far
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._flushing = asyncio.Lock()
        # Set while run() is running.
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wakeup: asyncio.Event | None = None
        self._subscribers: list[Subscriber] = []
        self.latest: Release | None = None  # the last release this maker made

    def __repr__(self) -> str:
        with self._lock:
            pending = self._debounce.pending
        running = self._loop is not None
        latest = self.latest.version if self.latest else None
        return (
            f"<ReleaseMaker running={running} pending={pending} latest={latest} "
            f"subscribers={len(self._subscribers)}>"
        )

    def changed(self, author: str) -> int:
        """A change by `author` was committed; thread-safe. Returns the change's number."""
        with self._lock:
            self._debounce.changed(self._clock())
            self._author = author
            self._changes += 1
            number = self._changes
        loop, wakeup = self._loop, self._wakeup
        if loop is not None and wakeup is not None:
            loop.call_soon_threadsafe(wakeup.set)
        return number

    @property
    def changes(self) -> int:
        """The number of the last change reported."""
        with self._lock:
            return self._changes

    @property
    def running(self) -> bool:
        return self._loop is not None

    async def released(self, change: int) -> None:
        """Return once change number `change` is in a release (or made none); on run()'s loop."""
        if self._released >= change:
            return
        future = asyncio.get_running_loop().create_future()
        self._waiters.append((change, future))
        try:
            await future
        finally:
            self._waiters = [(n, f) for n, f in self._waiters if f is not future]

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Call `subscriber(release)` after each new release; returns the unsubscribe."""
        self._subscribers.append(subscriber)
        return lambda: self._subscribers.remove(subscriber)

    async def run(self) -> None:
        """Make releases until cancelled."""
        self._loop = asyncio.get_running_loop()
        self._wakeup = wakeup = asyncio.Event()
        try:
            # Changes may have been committed while no maker ran (a crash between commit
            # and release): catch up first.
            with self._lock:
                self._debounce.changed(self._clock())
            while True:
                await self._until_due(wakeup)
                if not await self.flush():
                    await asyncio.sleep(RETRY_AFTER)
        finally:
            self._loop = self._wakeup = None

    async def flush(self) -> bool:
        """Make the pending release now, if any; False when the store failed (still pending)."""
        # One at a time: a second flush must not report changes settled while the
        # first is still making the release that holds them.
        async with self._flushing:
            return await self._flush()

    async def _flush(self) -> bool:
        with self._lock:
            covered = self._changes
            if not self._debounce.pending:
                self._settle(covered)
                return True
            author = self._author
            self._debounce.take()
        try:
            release = await asyncio.to_thread(make_release, self.db, author=author)
        except Exception:
            log.exception("making a release failed; retrying in %.1f s", RETRY_AFTER)
            with self._lock:
                self._debounce.changed(self._clock())
            return False
        if release is not None:
            self.latest = release
            log.info("made release %d (%s) by %s", release.version, release.hash, author)
            await self._publish(release)
        self._settle(covered)
        return True

    def _settle(self, covered: int) -> None:
        self._released = max(self._released, covered)
        for change, future in self._waiters:
            if change <= self._released and not future.done():
                future.set_result(None)

    async def _until_due(self, wakeup: asyncio.Event) -> None:
        """Wait until the pending changes are due; each new change may move that later."""
        while True:
            wakeup.clear()
            with self._lock:
                due = self._debounce.due()
            if due is None:
                await wakeup.wait()
                continue
            delay = due - self._clock()
            if delay <= 0:
                return
            try:
                await asyncio.wait_for(wakeup.wait(), delay)
            except TimeoutError:
                return

    async def _publish(self, release: Release) -> None:
        for subscriber in list(self._subscribers):
            try:
                result = subscriber(release)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception("release subscriber %r failed on v%d", subscriber, release.version)
