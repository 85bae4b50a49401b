"""A worker process: one uvloop event loop proxying on a SO_REUSEPORT listening socket.

Started by the supervisor (`python -m data_plane.worker`), it reads its control
channel: snapshots to apply, requests for counters. A snapshot is applied in two
steps, so that the supervisor can make every worker serve it or none: PREPARE compiles
it in a thread and holds the result, COMMIT swaps it in with one assignment (ABORT
drops it). The worker starts listening only once it has a config, so a restarted
worker never takes traffic it cannot route. SIGTERM (or the
supervisor going away) drains it: stop listening, close idle connections, let
requests in flight finish until the drain deadline, exit.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import cast

import uvloop
from fleetgate_pb import sync_pb2
from google.protobuf.message import DecodeError

from data_plane.access_log import OFF, AccessLog
from data_plane.candidate import Candidate, compile_selector, selector_problem
from data_plane.channel import Channel, ChannelClosed, Kind
from data_plane.http.core import DownstreamConnection, ProxyState
from data_plane.http.tls import HttpsListener
from data_plane.limits.policy import Limiters, LocalBackend
from data_plane.limits.redis_backend import REDIS_PREFIX_VARIABLE, RedisBackend
from data_plane.limits.shared import open_worker_limits
from data_plane.limits.table import KeyTable
from data_plane.log_format import FORMATS, LOG_FORMAT_VARIABLE, configure_logging
from data_plane.metrics import WorkerMetrics
from data_plane.resilience.breaker import forget_retired
from data_plane.resilience.report import worker_breakers
from data_plane.runtime import RuntimeConfig, Work, compile_payload, finish
from data_plane.settings import Limits, parse_address
from data_plane.tracing import tracing_from_environment
from data_plane.workers import REDIS_URL_VARIABLE

log = logging.getLogger("fleetgate.worker")
BACKLOG = 4096
TICKS_PER_SECOND = 10  # upstream timeouts are enforced to a tenth of a second


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket bound with SO_REUSEPORT: every worker binds its own, the kernel spreads."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen(BACKLOG)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


# While a compile runs, the collector sweeps only the young generations. A compile of
# 10,000 routes otherwise triggers full collections of what it has built so far (40-60 ms
# each, holding the GIL, so the loop waits); the swap freezes the result instead.
COMPILE_THRESHOLDS = (700, 5, 1 << 30)
# And the compiling thread hands the GIL back to the loop after at most 1 ms instead of
# the interpreter's 5: at 10,000 routes this cut the loop's stalls over 10 ms during a
# compile by two thirds, in-process on the 2-core machine (see docs/config-swap.md).
COMPILE_SWITCH_INTERVAL = 0.001


_compiling = 0  # compiles running in this process; the first sets the thresholds
_thresholds_before: tuple[int, int, int] = gc.get_threshold()
_switch_before = sys.getswitchinterval()


@contextlib.contextmanager
def no_full_collections() -> Iterator[None]:
    """Keep the collector to the young generations (smaller ones), and the GIL to short
    turns, until leaving; the last of overlapping compiles (an active config and a
    candidate) puts both back."""
    global _compiling, _thresholds_before, _switch_before
    if _compiling == 0:
        _thresholds_before = gc.get_threshold()
        _switch_before = sys.getswitchinterval()
        gc.set_threshold(*COMPILE_THRESHOLDS)
        sys.setswitchinterval(min(_switch_before, COMPILE_SWITCH_INTERVAL))
    _compiling += 1
    try:
        yield
    finally:
        _compiling -= 1
        if _compiling == 0:
            gc.set_threshold(*_thresholds_before)
            sys.setswitchinterval(_switch_before)


def probe_interval(environ: Mapping[str, str] = os.environ) -> float:
    """FLEETGATE_LOOP_PROBE_INTERVAL: seconds between the extra loop-lag probes benches
    ask for (0.0005 to 1; absent or anything else: none beyond the tick's)."""
    try:
        interval = float(environ.get("FLEETGATE_LOOP_PROBE_INTERVAL", "0"))
    except ValueError:
        return 0.0
    return interval if 0.0005 <= interval <= 1.0 else 0.0


class Refused(Exception):
    """A config step the worker's state does not allow now; its text is the answer."""


class Worker:
    """The lifecycle of one worker process, as a sequence like uvicorn's Server."""

    def __init__(
        self,
        channel: Channel,
        listen: tuple[str, int],
        limits: Limits,
        workers: int = 1,
        access_log: AccessLog | None = None,
        limiters: Limiters | None = None,
        https_listen: tuple[str, int] | None = None,
    ) -> None:
        self.channel = channel
        self.listen = listen
        self.https_listen = https_listen
        self.limits = limits
        self.workers = workers  # of the node, sharing its allowances
        self.loop = asyncio.get_running_loop()
        self.metrics = WorkerMetrics()
        self.limiters = limiters or Limiters.private()  # outlive config swaps
        self.state = ProxyState(self.loop, limits, self.metrics)
        self.state.access_log = access_log
        self.state.tracing = tracing_from_environment()
        self.server: asyncio.Server | None = None
        self.https_server: asyncio.Server | None = None
        self.https: HttpsListener | None = None
        if https_listen is not None:
            self.https = HttpsListener(self.state)
            self.state.https_port = https_listen[1]
        self.stopping = asyncio.Event()
        self._ticker: asyncio.TimerHandle | None = None
        self._applying: set[asyncio.Future[None]] = set()
        # Compiled, waiting for COMMIT: an active config, or a candidate.
        self._prepared: RuntimeConfig | Candidate | None = None
        self.probe_interval = probe_interval()
        # Targets failing their health checks, as the supervisor last said: (service, address)
        self.unhealthy: frozenset[tuple[str, str]] = frozenset()

    async def run(self) -> None:
        self.loop.add_signal_handler(signal.SIGTERM, self.stopping.set)
        self.loop.add_signal_handler(signal.SIGINT, self.stopping.set)
        self._tick()
        reader = asyncio.ensure_future(self._read_channel())
        stopping = asyncio.ensure_future(self.stopping.wait())
        await asyncio.wait({reader, stopping}, return_when=asyncio.FIRST_COMPLETED)
        await self.drain()
        reader.cancel()
        stopping.cancel()
        self.channel.close()

    # ------------------------------------------------------------ control channel

    async def _read_channel(self) -> None:
        try:
            while True:
                kind, request_id, payload = await self.channel.receive()
                if kind is Kind.PREPARE or kind is Kind.PREPARE_CANDIDATE:
                    # Applies are serialized by the supervisor; answering counters
                    # meanwhile keeps scrapes quick during a long compile.
                    task = asyncio.ensure_future(
                        self._prepare(request_id, payload, candidate=kind is Kind.PREPARE_CANDIDATE)
                    )
                    self._applying.add(task)
                    task.add_done_callback(self._applying.discard)
                elif kind is Kind.COMMIT:
                    await self._commit(request_id)
                elif kind is Kind.PROMOTE:
                    await self._answer(request_id, self.promote)
                elif kind is Kind.DROP_CANDIDATE:
                    await self._answer(request_id, self.drop_candidate)
                elif kind is Kind.ABORT:
                    self._prepared = None
                    await self._reply(Kind.APPLIED, request_id, {"ok": True, "error": ""})
                elif kind is Kind.SAMPLES:
                    samples = self.metrics.samples()
                    self.limiters.add_samples(samples)
                    await self._reply(kind, request_id, samples)
                elif kind is Kind.SUMMARY:
                    await self._reply(kind, request_id, self._summary())
                elif kind is Kind.PING:
                    await self._reply(kind, request_id, {})
                elif kind is Kind.HEALTH:
                    self._health(payload)
                    await self._reply(Kind.APPLIED, request_id, {"ok": True, "error": ""})
                elif kind is Kind.REOPEN:
                    if self.state.access_log is not None:
                        self.state.access_log.reopen()
                    await self._reply(kind, request_id, {})
        except ChannelClosed:
            log.info("worker %d: the supervisor is gone; draining", os.getpid())

    async def _reply(self, kind: Kind, request_id: int, body: object) -> None:
        with contextlib.suppress(ChannelClosed):
            await self.channel.send(kind, request_id, json.dumps(body).encode())

    async def _prepare(self, request_id: int, payload: bytes, *, candidate: bool) -> None:
        self._prepared = None
        # The config's objects live as long as it does: keep the collector off them by
        # freezing them as soon as they are built. Sweeping the young generations is
        # done before, while they hold only the requests' objects: after, they would
        # also hold the new config's dicts of 10,000 entries, and a sweep visits every
        # object such a dict refers to (5-7 ms of the loop at 10,000 routes, measured
        # in-process on the loaded 2-core machine, against well under 1 ms before).
        gc.collect(1)
        try:
            with no_full_collections():
                if candidate:
                    self._prepared = await self._compile_candidate(payload)
                else:
                    self._prepared = await self._compile(payload)
            gc.freeze()
        except (ValueError, DecodeError) as exc:  # the snapshot's fault: its reason is the NACK
            await self._reply(Kind.APPLIED, request_id, {"ok": False, "error": str(exc)})
            return
        except Exception:
            # A bug, not a bad snapshot: its traceback belongs in the log, not in a NACK.
            log.exception("worker %d: compiling a snapshot failed unexpectedly", os.getpid())
            error = "the node failed to compile it (an internal error; see the node's log)"
            await self._reply(Kind.APPLIED, request_id, {"ok": False, "error": error})
            return
        await self._reply(Kind.APPLIED, request_id, {"ok": True, "error": ""})

    async def _commit(self, request_id: int) -> None:
        prepared, self._prepared = self._prepared, None

        async def commit() -> None:
            if prepared is None:
                raise Refused("no prepared config to commit")
            if isinstance(prepared, Candidate):
                self.serve_candidate(prepared)
            else:
                await self.swap(prepared)

        await self._answer(request_id, commit)

    async def _answer(self, request_id: int, step: Callable[[], Awaitable[None]]) -> None:
        try:
            await step()
        except Refused as refused:  # the supervisor asked out of turn: the reason is the answer
            await self._reply(Kind.APPLIED, request_id, {"ok": False, "error": str(refused)})
            return
        except Exception:
            # A bug, not a refusal: its traceback belongs in the log, not in the answer.
            log.exception("worker %d: a config step failed unexpectedly", os.getpid())
            error = "the node failed to apply it (an internal error; see the node's log)"
            await self._reply(Kind.APPLIED, request_id, {"ok": False, "error": error})
            return
        await self._reply(Kind.APPLIED, request_id, {"ok": True, "error": ""})

    async def _compile(self, payload: bytes) -> RuntimeConfig:
        """The config of a serialized snapshot, compiled from the active one.

        A change to a few routes is short steps (see `compile_steps`): they run here on
        the loop, one per turn, each about a millisecond at most, so requests wait for
        none of them longer than that. The rest of a full compile runs in a thread. (A
        thread for a short compile was worse: it holds the GIL while the loop waits to
        take it back after each callback, and when the machine is busy and the thread
        is descheduled holding it, for a whole time slice of the kernel's.)
        """
        steps = compile_payload(
            payload,
            limits=self.limits,
            metrics=self.metrics,
            previous=self.state.config,
            workers=self.workers,
            limiters=self.limiters,
        )
        while True:
            try:
                work = next(steps)
            except StopIteration as done:
                config: RuntimeConfig = done.value
                return config
            if work is Work.LONG:
                return await self.loop.run_in_executor(None, finish, steps)
            await asyncio.sleep(0)

    def _summary(self) -> dict[str, object]:
        """The status totals, and the state of every target's circuit breaker."""
        config = self.state.config
        breakers = [] if config is None else worker_breakers(config.breakers)
        return {**self.metrics.summary(), "breakers": breakers}

    def _health(self, payload: bytes) -> None:
        try:
            listed = json.loads(payload)["unhealthy"]
            self.unhealthy = frozenset((str(s), str(a)) for s, a in listed)
        except (ValueError, KeyError, TypeError):
            log.error("worker %d: a health message it cannot read", os.getpid())
            return
        if self.state.config is not None:
            mark_health(self.state.config, self.unhealthy)
        if self.state.candidate is not None:
            mark_health(self.state.candidate.config, self.unhealthy)

    async def _compile_candidate(self, payload: bytes) -> Candidate:
        """A candidate push compiled: services equal to the active config's are shared
        with it, pools and balancer state included."""
        push = sync_pb2.SnapshotPush.FromString(payload)
        problem = selector_problem(push.selector)
        if problem is not None:
            raise ValueError(problem)
        config = await self._compile(push.snapshot)
        return Candidate(config, compile_selector(push.selector))

    def serve_candidate(self, candidate: Candidate) -> None:
        """Serve `candidate` beside the active config, for the requests it picks."""
        mark_health(candidate.config, self.unhealthy)
        previous = self.state.candidate
        self.state.candidate = candidate
        if previous is not None:
            self._retire(previous.config, keep=(candidate.config, self.state.config))

    async def promote(self) -> None:
        """The candidate becomes the active config: nothing to compile, nothing refused."""
        candidate = self.state.candidate
        if candidate is None:
            raise Refused("no candidate to promote")
        # One assignment after the other on the loop: no request sees neither.
        self.state.candidate = None
        await self.swap(candidate.config)

    async def drop_candidate(self) -> None:
        candidate, self.state.candidate = self.state.candidate, None
        if candidate is not None:
            self._retire(candidate.config, keep=(self.state.config,))
            active = self.state.config
            forget_retired(candidate.config.breakers, [] if active is None else active.breakers)

    def _retire(self, old: RuntimeConfig, keep: tuple[RuntimeConfig | None, ...]) -> None:
        """Close the pools of `old`'s services that no config in `keep` still uses."""
        kept = {id(s) for config in keep if config is not None for s in config.services.values()}
        for service in old.services.values():
            if id(service) not in kept:
                service.pool.retire()

    async def swap(self, config: RuntimeConfig) -> None:
        """Serve `config` from now on; exchanges in flight keep the plans they hold.

        Nothing here holds the loop for long: the assignment is the swap, the old
        config is freed a piece per loop turn, and the collector only sweeps the young
        generations before freezing what is left (see docs/config-swap.md).
        """
        mark_health(config, self.unhealthy)
        previous = self.state.config
        self.state.config = config
        if previous is not None:
            candidate = self.state.candidate
            held = None if candidate is None else candidate.config
            self._retire(previous, keep=(config, held))
            forget_retired(previous.breakers, config.breakers + (held.breakers if held else []))
            kept = (config.table, None if held is None else held.table)
            self._release(previous.retire(keep=kept))
        del previous
        if self.server is None:
            sock = listening_socket(*self.listen)
            # create_server listens again with its own backlog (100 by default):
            # a burst of new clients would overflow it and wait out SYN retries.
            self.server = await self.loop.create_server(
                lambda: cast(asyncio.Protocol, DownstreamConnection(self.state)),
                sock=sock,
                backlog=BACKLOG,
            )
        if self.https_server is None and self.https is not None and self.https_listen:
            sock = listening_socket(*self.https_listen)
            self.https_server = await self.loop.create_server(
                self.https.factory,
                sock=sock,
                backlog=BACKLOG,
                ssl=self.https.context,
                ssl_handshake_timeout=self.limits.header_timeout,
            )
        # The config was frozen when it was compiled (see `_prepare`). The old one is
        # not in the way: it has no reference cycles and is freed by reference
        # counting as it is dismantled.

    def _release(self, steps: Iterator[None]) -> None:
        """Run `steps` one per loop turn, so that freeing a big config never stalls."""
        try:
            next(steps)
        except StopIteration:
            return
        self.loop.call_soon(self._release, steps)

    # ------------------------------------------------------------ time and shutdown

    def _tick(self, count: int = 0, due: float = 0.0) -> None:
        # The loop-lag probe: how late this timer fires is how long the loop was held.
        now = time.perf_counter()
        if due:
            self.metrics.observe_loop_lag(max(0.0, now - due))
        if count % TICKS_PER_SECOND:
            self.state.check_deadlines()
        else:
            self.state.tick()
            self.state.check_deadlines()
            if self.state.access_log is not None:
                self.state.access_log.flush()
        interval = 1.0 / TICKS_PER_SECOND
        self._ticker = self.loop.call_later(interval, self._tick, count + 1, now + interval)
        if count == 0 and self.probe_interval:
            self._probe(self.probe_interval)

    def _probe(self, interval: float, due: float = 0.0) -> None:
        """A finer loop-lag probe than the tick, for benches (FLEETGATE_LOOP_PROBE_INTERVAL)."""
        now = time.perf_counter()
        if due:
            self.metrics.observe_loop_lag(max(0.0, now - due))
        if not self.stopping.is_set():
            self.loop.call_later(interval, self._probe, interval, now + interval)

    async def drain(self) -> None:
        """Stop accepting, close idle connections, wait for the busy ones, with a deadline."""
        state = self.state
        state.draining = True
        log.info("worker %d: draining %d connections", os.getpid(), len(state.connections))
        for server in (self.server, self.https_server):
            if server is not None:
                server.close()
        for connection in list(state.connections):
            connection.check_timeouts(state.now)
        deadline = self.loop.time() + self.limits.drain_timeout
        while state.connections and self.loop.time() < deadline:
            await asyncio.sleep(0.05)
        for connection in list(state.connections):
            connection.cut()
        if self._ticker is not None:
            self._ticker.cancel()
        if state.access_log is not None:
            state.access_log.close()
            state.access_log = None
        state.tracing.shutdown()  # the spans still held are sent


def mark_health(config: RuntimeConfig, unhealthy: frozenset[tuple[str, str]]) -> None:
    """Take the targets in `unhealthy` out of their balancers, and put the others back.

    A target that passes its checks again has its circuit breaker closed too (as Envoy
    un-ejects a host on a passing active check): the checks just saw it answer.
    """
    for service in config.services.values():
        balancer = service.balancer
        breakers = service.breakers
        for target in balancer.targets:
            healthy = (service.name, target.address) not in unhealthy
            if healthy and not target.healthy and breakers is not None:
                breakers.close(target)
            balancer.set_healthy(target, healthy)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="data_plane.worker")
    parser.add_argument("--channel-fd", type=int, required=True)
    parser.add_argument("--listen", required=True)
    parser.add_argument("--workers", type=int, default=1, help="the node's worker count")
    parser.add_argument("--access-log", default=OFF, help="-, a file, or off")
    parser.add_argument("--limit-fds", help="the node's limits memory (limits/shared.py)")
    parser.add_argument("--worker-index", type=int, default=0, help="this worker's index")
    parser.add_argument("--https-listen", help="HOST:PORT of the HTTPS listener")
    args = parser.parse_args(argv)
    # The node's --log-format, inherited through the environment like the limits.
    log_format = os.environ.get(LOG_FORMAT_VARIABLE, "text")
    configure_logging(log_format if log_format in FORMATS else "text")
    limits = Limits.from_environment()
    listen = parse_address(args.listen, "--listen")
    https_listen = (
        None if not args.https_listen else parse_address(args.https_listen, "--https-listen")
    )
    sock = socket.socket(fileno=args.channel_fd)
    redis_url = os.environ.get(REDIS_URL_VARIABLE)
    redis = (
        RedisBackend(redis_url, prefix=os.environ.get(REDIS_PREFIX_VARIABLE) or "fleetgate")
        if redis_url
        else None
    )
    if args.limit_fds:
        table, inflight, quotas = open_worker_limits(args.limit_fds, args.worker_index)
        limiters = Limiters(LocalBackend(table), redis, inflight=inflight, quotas=quotas)
    else:
        limiters = Limiters(LocalBackend(KeyTable.private()), redis)

    access_log = None if args.access_log == OFF else AccessLog(args.access_log)

    async def serve() -> None:
        channel = await Channel.open(sock)
        worker = Worker(
            channel,
            listen,
            limits,
            max(1, args.workers),
            access_log,
            limiters,
            https_listen=https_listen,
        )
        await worker.run()

    uvloop.run(serve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
