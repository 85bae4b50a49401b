"""The supervisor's handle on one worker process: spawn it, talk to it, see it die.

Workers are started with `subprocess` (fork and exec at once), never by forking the
supervisor's running interpreter: the supervisor may host gRPC threads. Each gets
its end of a socketpair as its control channel and binds the listen address itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
import socket
import sys
from typing import Any

from data_plane.channel import Channel, ChannelClosed, Kind
from data_plane.settings import Limits

log = logging.getLogger("fleetgate.node")

REDIS_URL_VARIABLE = "FLEETGATE_REDIS_URL"
APPLY_TIMEOUT = 120.0  # compiling 10,000 routes takes under a second; this is a hang
QUERY_TIMEOUT = 5.0


class WorkerGone(ConnectionError):
    """The worker died or stopped answering."""


class WorkerProcess:
    """One running worker and its control channel."""

    def __init__(self, index: int, process: asyncio.subprocess.Process, channel: Channel) -> None:
        self.index = index
        self.process = process
        self.channel = channel
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[bytes]] = {}
        self._reader = asyncio.ensure_future(self._read())

    @classmethod
    async def spawn(
        cls,
        index: int,
        listen: str,
        limits: Limits,
        workers: int = 1,
        access_log: str = "off",
        *,
        limit_args: tuple[str, ...] = (),
        limit_fds: tuple[int, ...] = (),
        redis_url: str | None = None,
        https_listen: str | None = None,
    ) -> WorkerProcess:
        """Start worker `index` of `workers`; `access_log`: -, a file, or off;
        `limit_args`, `limit_fds`: the flags naming the node's limits memory
        (data_plane/limits/shared.py) and those descriptors, handed down as they are;
        `redis_url`: the rate limits' Redis, passed in the environment
        (FLEETGATE_REDIS_URL) since it may hold a password; `https_listen`: HOST:PORT of
        the HTTPS listener, None: none."""
        environment = {**os.environ, **limits.as_environment()}
        if redis_url:
            environment[REDIS_URL_VARIABLE] = redis_url
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        https = () if https_listen is None else ("--https-listen", https_listen)
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "data_plane.worker",
                "--channel-fd",
                str(theirs.fileno()),
                "--listen",
                listen,
                "--workers",
                str(workers),
                "--access-log",
                access_log,
                *limit_args,
                *https,
                pass_fds=(theirs.fileno(), *limit_fds),
                env=environment,
            )
        finally:
            theirs.close()
        channel = await Channel.open(ours)
        log.info("worker %d started (pid %d)", index, process.pid)
        return cls(index, process, channel)

    @property
    def pid(self) -> int:
        return self.process.pid

    async def prepare(self, snapshot: bytes) -> None:
        """Have the worker compile `snapshot` and hold it, not serving it yet.

        Raises ValueError with the worker's reason when it refuses the snapshot.
        """
        await self._expect_ok(Kind.PREPARE, snapshot, APPLY_TIMEOUT)

    async def prepare_candidate(self, push: bytes) -> None:
        """Have the worker compile a candidate (a serialized SnapshotPush) and hold it."""
        await self._expect_ok(Kind.PREPARE_CANDIDATE, push, APPLY_TIMEOUT)

    async def promote(self) -> None:
        """Have the worker serve its candidate as the active config."""
        await self._expect_ok(Kind.PROMOTE, b"", APPLY_TIMEOUT)

    async def drop_candidate(self) -> None:
        await self._expect_ok(Kind.DROP_CANDIDATE, b"", APPLY_TIMEOUT)

    async def commit(self) -> None:
        """Have the worker serve what it prepared."""
        await self._expect_ok(Kind.COMMIT, b"", APPLY_TIMEOUT)

    async def abort(self) -> None:
        """Have the worker drop what it prepared."""
        await self._expect_ok(Kind.ABORT, b"", QUERY_TIMEOUT)

    async def apply(self, snapshot: bytes) -> None:
        """Prepare and commit at once: for a worker on its own, such as a restarted one."""
        await self.prepare(snapshot)
        await self.commit()

    async def _expect_ok(self, kind: Kind, payload: bytes, timeout: float) -> None:
        answer = json.loads(await self._ask(kind, payload, timeout))
        if not answer["ok"]:
            raise ValueError(answer["error"])

    async def tell_health(self, payload: bytes) -> None:
        """Tell the worker which targets fail their health checks (a HEALTH message)."""
        await self._expect_ok(Kind.HEALTH, payload, QUERY_TIMEOUT)

    async def responsive(self, timeout: float) -> bool:
        """Whether the worker's event loop answers within `timeout` seconds.

        Raises WorkerGone when the worker is gone rather than slow.
        """
        try:
            await self._ask(Kind.PING, b"", timeout)
        except WorkerGone as exc:
            if isinstance(exc.__cause__, TimeoutError):
                return False
            raise
        return True

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()

    async def reopen_access_log(self) -> None:
        """Have the worker flush its access log and open the file again."""
        await self._ask(Kind.REOPEN, b"", QUERY_TIMEOUT)

    async def query(self, kind: Kind) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(await self._ask(kind, b"", QUERY_TIMEOUT))
        return result

    async def _ask(self, kind: Kind, payload: bytes, timeout: float) -> bytes:
        request_id = next(self._ids)
        answer: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = answer
        try:
            await self.channel.send(kind, request_id, payload)
            return await asyncio.wait_for(answer, timeout)
        except (ChannelClosed, TimeoutError) as exc:
            raise WorkerGone(f"worker {self.index} (pid {self.pid}) did not answer: {exc}") from exc
        finally:
            self._pending.pop(request_id, None)

    async def _read(self) -> None:
        try:
            while True:
                _, request_id, payload = await self.channel.receive()
                answer = self._pending.get(request_id)
                if answer is not None and not answer.done():
                    answer.set_result(payload)
        except ChannelClosed:
            pass
        for answer in self._pending.values():
            if not answer.done():
                answer.set_exception(ChannelClosed(f"worker {self.index} closed its channel"))

    def terminate(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.process.terminate()

    async def wait(self) -> int:
        code = await self.process.wait()
        self._reader.cancel()
        self.channel.close()
        return code

    def __repr__(self) -> str:
        return f"<WorkerProcess {self.index} pid={self.pid} returncode={self.process.returncode}>"
