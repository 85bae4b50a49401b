"""The processes `fleetgate up` runs: started, their output prefixed, stopped in order."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections import deque

STOP_TIMEOUT = 10.0
TAIL_LINES = 40


class ChildExited(RuntimeError):
    """A child process ended on its own."""


class Child:
    """One `fleetgate` sub-command as a child process in its own process group."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.process: asyncio.subprocess.Process | None = None
        self.tail: deque[str] = deque(maxlen=TAIL_LINES)
        self._forwarder: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            *self.argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=self.env,
            # Ctrl-C reaches `up` alone, which then stops the children in order.
            start_new_session=True,
        )
        self._forwarder = asyncio.create_task(self._forward())

    async def _forward(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        async for raw in self.process.stdout:
            line = raw.decode(errors="replace").rstrip()
            self.tail.append(line)
            print(f"[{self.name}] {line}", file=sys.stderr, flush=True)

    @property
    def exited(self) -> bool:
        return self.process is not None and self.process.returncode is not None

    def check_alive(self) -> None:
        if self.exited:
            assert self.process is not None
            raise ChildExited(
                f"{self.name} exited with status {self.process.returncode}; its last lines:\n"
                + "\n".join(self.tail)
            )

    async def wait(self) -> int:
        assert self.process is not None
        return await self.process.wait()

    async def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM (a graceful stop), SIGKILL after `timeout` seconds."""
        if self.process is None:
            return
        if self.process.returncode is None:
            self._signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), timeout)
            except TimeoutError:
                self._signal(signal.SIGKILL)
                await self.process.wait()
        self._signal(signal.SIGKILL)  # whatever it spawned (node workers) goes too
        if self._forwarder is not None:
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(self._forwarder, 2.0)

    def _signal(self, sig: signal.Signals) -> None:
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, sig)

    def __repr__(self) -> str:
        if self.process is None:
            return f"<Child {self.name} not started>"
        state = (
            "running" if self.process.returncode is None else f"exited {self.process.returncode}"
        )
        return f"<Child {self.name} pid={self.process.pid} {state}>"
