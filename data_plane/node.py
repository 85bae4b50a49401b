"""The node's supervisor: workers, the status server, and applying snapshots.

It runs a plain asyncio loop (it will host the gRPC sync client too), starts the
worker processes, restarts one that dies (handing it the current snapshot before it
listens), serves `/health`, `/ready` and `/metrics`, and applies snapshots:
`apply_snapshot` has every worker compile the snapshot at once (each in its own
process) and hold it; only when all of them could does it have them all swap, and it
returns the time it took. A refused snapshot leaves every worker on the config it had.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fleetgate_pb import config_pb2 as pb
from fleetgate_pb import sync_pb2

from data_plane.candidate import selector_problem
from data_plane.capabilities import CAPABILITIES, ApplyError
from data_plane.channel import Kind
from data_plane.config.syntax import join_host_port
from data_plane.config_dump import candidate_dump, config_dump
from data_plane.limits.shared import NodeLimits
from data_plane.metrics import LATENCY_BOUNDS, SampleSum, WorkerMetrics, quantile
from data_plane.resilience.health import HealthChecker, TargetKey
from data_plane.resilience.report import TargetState, node_targets
from data_plane.runtime import SnapshotView, compile_snapshot
from data_plane.settings import NodeSettings
from data_plane.stats import stats_document
from data_plane.status import StatusServer
from data_plane.workers import WorkerGone, WorkerProcess

__all__ = ["CAPABILITIES", "ApplyError", "Node", "NodeStats", "start_node"]

log = logging.getLogger("fleetgate.node")

SUMMARY_INTERVAL = 1.0
WATCHDOG_INTERVAL = 1.0  # seconds between two probes of every worker's event loop
RESTART_DELAYS = (0.1, 0.5, 1.0, 2.0, 5.0)  # a worker that keeps dying is restarted slower


@dataclass(frozen=True, slots=True)
class SideStats:
    """The answers of one side of a rollout (active, candidate) since the previous call."""

    requests: int
    request_rate: float
    error_rate: float
    p50_ms: float
    p99_ms: float


@dataclass(frozen=True, slots=True)
class NodeStats:
    """What the node reports to the control plane, since the previous `stats()` call."""

    version: int
    hash: str
    candidate_version: int  # 0 and "": no candidate
    candidate_hash: str
    requests: int
    request_rate: float  # requests per second
    error_rate: float  # share of 5xx answers, 0..1
    p50_ms: float
    p99_ms: float
    open_connections: int
    uptime_seconds: float
    sides: tuple[SideStats, SideStats]  # active, candidate: a rollout's figures
    targets: tuple[TargetState, ...] = ()  # health and breaker state, when they have either


SideTotal = tuple[int, int, tuple[int, ...]]  # requests, 5xx answers, latency buckets


@dataclass(slots=True)
class _Totals:
    at: float
    requests: int = 0
    errors: int = 0
    buckets: tuple[int, ...] = ()
    sides: tuple[SideTotal, ...] = ()

    def since(self, previous: _Totals, now: float) -> SideStats:
        return _side_stats(
            (self.requests, self.errors, self.buckets),
            (previous.requests, previous.errors, previous.buckets),
            max(now - previous.at, 1e-9),
        )


def _side_totals(summaries: list[Any], width: int) -> tuple[SideTotal, ...]:
    """Each side's totals over the workers' summaries."""
    totals = []
    for index in range(2):
        requests = errors = 0
        buckets = [0] * width
        for summary in summaries:
            side = summary.get("sides", [{}, {}])[index]
            requests += int(side.get("requests", 0))
            errors += int(side.get("errors", 0))
            for i, count in enumerate(side.get("buckets", ())):
                buckets[i] += int(count)
        totals.append((requests, errors, tuple(buckets)))
    return tuple(totals)


def _side_stats(now: SideTotal, before: SideTotal, elapsed: float) -> SideStats:
    requests = max(now[0] - before[0], 0)
    errors = max(now[1] - before[1], 0)
    old = before[2] or (0,) * len(now[2])
    delta = [max(b - a, 0) for a, b in zip(old, now[2], strict=True)]
    return SideStats(
        requests=requests,
        request_rate=requests / elapsed,
        error_rate=errors / requests if requests else 0.0,
        p50_ms=quantile(delta, 0.50) * 1000,
        p99_ms=quantile(delta, 0.99) * 1000,
    )


class Node:
    def __init__(self, settings: NodeSettings) -> None:
        self.settings = settings
        self.snapshot: pb.Snapshot | None = None
        self._payload = b""  # what the workers were sent of `snapshot`
        # During a rollout: the candidate and its selector, served beside `snapshot`.
        self.candidate: pb.Snapshot | None = None
        self.selector: sync_pb2.CandidateSelector | None = None
        self.workers: dict[int, WorkerProcess] = {}
        self.status = StatusServer(self)
        self.started_at = time.monotonic()
        self.restarts = 0
        self.stalls = 0  # workers killed by the watchdog
        self.applies = {"applied": 0, "refused": 0}
        self.apply_seconds = 0.0  # of the last snapshot applied
        self.applied_at = 0.0  # Unix time
        # Per-node state
        self._apply_lock = asyncio.Lock()
        # Rate limits, quotas and requests in flight, shared by every worker
        self.limits = NodeLimits(settings.workers)
        self._stopping = False
        self._supervisors: list[asyncio.Task[None]] = []
        self._summaries: dict[int, dict[str, int | list[int]]] = {}
        self._summary_task: asyncio.Task[None] | None = None
        self._watchdog_task: asyncio.Task[None] | None = None
        self._reported = _Totals(time.monotonic())
        # Active health checks run here, once per node; changes go to every worker.
        self.health = HealthChecker(self._health_changed)
        self._health_news = asyncio.Event()
        self._health_task: asyncio.Task[None] | None = None

    @property
    def ready(self) -> bool:
        return self.snapshot is not None and bool(self.workers)

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Serve status, start the workers; raises OSError when a port is taken."""
        _check_port_free(*self.settings.listen)
        if self.settings.https_listen is not None:
            _check_port_free(*self.settings.https_listen)
        await self.status.start(*self.settings.status_listen)
        for index in range(self.settings.workers):
            self.workers[index] = await self._spawn(index)
            self._supervisors.append(asyncio.ensure_future(self._supervise(index)))
        self._summary_task = asyncio.ensure_future(self._poll_summaries())
        self._watchdog_task = asyncio.ensure_future(self._watchdog())
        self._health_task = asyncio.ensure_future(self._tell_health())

    async def stop(self) -> None:
        """Drain every worker (they finish what is in flight), then stop serving status."""
        self._stopping = True
        for task in self._supervisors:
            task.cancel()
        self.health.stop()
        for looping in (self._summary_task, self._watchdog_task, self._health_task):
            if looping is not None:
                looping.cancel()
        for worker in self.workers.values():
            worker.terminate()
        deadline = self.settings.limits.drain_timeout + 5.0
        for worker in list(self.workers.values()):
            try:
                await asyncio.wait_for(worker.wait(), deadline)
            except TimeoutError:
                log.warning("worker %d did not stop in time; killing it", worker.index)
                with contextlib.suppress(ProcessLookupError):
                    worker.process.kill()
                await worker.wait()
        self.workers.clear()
        await self.status.stop()

    async def _spawn(self, index: int) -> WorkerProcess:
        settings = self.settings
        https = settings.https_listen
        return await WorkerProcess.spawn(
            index,
            join_host_port(*settings.listen),
            settings.limits,
            settings.workers,
            settings.access_log,
            limit_args=self.limits.worker_args(index),
            limit_fds=self.limits.fds,
            redis_url=settings.redis_url,
            https_listen=None if https is None else join_host_port(*https),
        )

    async def _supervise(self, index: int) -> None:
        """Restart worker `index` whenever it dies, with the current snapshot."""
        failures = 0
        while True:
            worker = self.workers[index]
            code = await worker.wait()
            if self._stopping:
                return
            self.workers.pop(index, None)
            self._summaries.pop(index, None)
            self.limits.worker_died(index)
            delay = RESTART_DELAYS[min(failures, len(RESTART_DELAYS) - 1)]
            log.error("worker %d (pid %d) exited with %s; restarting", index, worker.pid, code)
            await asyncio.sleep(delay)
            started = time.monotonic()
            try:
                replacement = await self._spawn(index)
                async with self._apply_lock:
                    if self.snapshot is not None:
                        await replacement.apply(self._payload or worker_payload(self.snapshot))
                    if self.candidate is not None:
                        await replacement.prepare_candidate(self._candidate_push())
                        await replacement.commit()
                    await replacement.tell_health(self._health_payload())
            except (OSError, WorkerGone, ValueError) as exc:
                log.error("worker %d could not be restarted: %s", index, exc)
                failures += 1
                continue
            self.workers[index] = replacement
            self.restarts += 1
            # A worker that lived a while earns a quick restart next time.
            failures = 0 if time.monotonic() - started > 30 else failures + 1

    async def _watchdog(self) -> None:
        """Kill a worker whose event loop stops answering; `_supervise` replaces it.

        A worker stuck in a loop (a runaway computation, a blocking call, a stopped
        process) holds every connection it accepted, and would hold them forever.
        """
        timeout = self.settings.limits.worker_stall_timeout
        while True:
            await asyncio.sleep(WATCHDOG_INTERVAL)
            workers = list(self.workers.values())
            answers = await asyncio.gather(
                *(worker.responsive(timeout) for worker in workers), return_exceptions=True
            )
            for worker, answer in zip(workers, answers, strict=True):
                if answer is not False or worker.process.returncode is not None:
                    continue
                if self.workers.get(worker.index) is not worker:
                    continue  # already being replaced
                self.stalls += 1
                log.error(
                    "worker %d (pid %d): its event loop has not turned for %g s; replacing it",
                    worker.index,
                    worker.pid,
                    timeout,
                )
                worker.kill()

    # ------------------------------------------------------------ config

    async def apply_snapshot(self, snapshot: pb.Snapshot, payload: bytes = b"") -> float:
        """Compile and swap `snapshot` on every worker; returns the seconds it took.

        `payload`: the bytes `snapshot` was parsed from, as the control plane serialized
        them (deterministically): the workers are sent those instead of `snapshot`
        serialized again (see `worker_payload`).

        Raises ApplyError (a worker refused it: its checks fail or it needs a capability
        this node lacks, with the same reason from every worker; or a worker failed),
        or, while no worker runs, ConfigInvalid; the running config stays.
        """
        started = time.perf_counter()
        async with self._apply_lock:
            workers = list(self.workers.values())
            try:
                payload = payload or worker_payload(snapshot)
                if workers:
                    await _two_phase(
                        workers, [w.prepare(payload) for w in workers], snapshot.version
                    )
                else:
                    # Every worker is being restarted: check here, so that none is
                    # ever handed a snapshot it would refuse.
                    await asyncio.to_thread(_check_compiles, _whole(snapshot), self.settings)
            except ValueError:
                self.applies["refused"] += 1
                raise
            self.snapshot, self._payload = snapshot, payload
            self.applies["applied"] += 1
            self.health.update(snapshot)
        seconds = time.perf_counter() - started
        self.apply_seconds = seconds
        self.applied_at = time.time()
        log.info(
            "applied snapshot v%d (%s) in %.3f s", snapshot.version, snapshot.hash[:12], seconds
        )
        return seconds

    async def reopen_logs(self) -> None:
        """SIGUSR1: every worker flushes its access log and opens the file again."""
        answers = await asyncio.gather(
            *(worker.reopen_access_log() for worker in list(self.workers.values())),
            return_exceptions=True,
        )
        failed = [str(a) for a in answers if isinstance(a, BaseException)]
        if failed:
            log.warning("SIGUSR1: not every worker reopened its access log: %s", failed[0])
        else:
            log.info("SIGUSR1: the access log was opened again by %d workers", len(answers))

    async def apply_candidate(
        self, snapshot: pb.Snapshot, selector: sync_pb2.CandidateSelector
    ) -> float:
        """Compile `snapshot` on every worker and serve it beside the active config, for
        the requests `selector` picks; returns the seconds it took.

        Raises ApplyError as `apply_snapshot` does; the active config and any previous
        candidate stay as they were.
        """
        started = time.perf_counter()
        problem = selector_problem(selector)
        if problem is not None:
            raise ApplyError(problem)
        if self.snapshot is None:
            raise ApplyError("a candidate needs an active config beside it; this node has none")
        push = sync_pb2.SnapshotPush(
            slot=sync_pb2.CANDIDATE, snapshot=worker_payload(snapshot), selector=selector
        ).SerializeToString()
        async with self._apply_lock:
            workers = list(self.workers.values())
            try:
                if workers:
                    await _two_phase(
                        workers, [w.prepare_candidate(push) for w in workers], snapshot.version
                    )
                else:
                    await asyncio.to_thread(_check_compiles, snapshot, self.settings)
            except ValueError:
                self.applies["refused"] += 1
                raise
            self.candidate, self.selector = snapshot, selector
            self.applies["applied"] += 1
        await self._restart_sides()
        seconds = time.perf_counter() - started
        log.info(
            "serving candidate v%d (%s) beside v%d in %.3f s",
            snapshot.version,
            snapshot.hash[:12],
            self.snapshot.version,
            seconds,
        )
        return seconds

    async def promote_candidate(self) -> float:
        """The candidate becomes the active config on every worker: it is compiled
        already, so this is one swap each; returns the seconds it took."""
        started = time.perf_counter()
        async with self._apply_lock:
            candidate = self.candidate
            if candidate is None:
                raise ApplyError("no candidate to promote")
            await _on_every(list(self.workers.values()), "promote", candidate.version)
            self.snapshot, self.candidate, self.selector = candidate, None, None
            self._payload = b""
        log.info("promoted candidate v%d (%s)", candidate.version, candidate.hash[:12])
        return time.perf_counter() - started

    async def drop_candidate(self) -> None:
        """Stop serving the candidate; the active config served all along."""
        async with self._apply_lock:
            candidate = self.candidate
            if candidate is None:
                return
            await _on_every(list(self.workers.values()), "drop_candidate", candidate.version)
            self.candidate = self.selector = None
        log.info("dropped candidate v%d (%s)", candidate.version, candidate.hash[:12])

    def _candidate_push(self) -> bytes:
        assert self.candidate is not None and self.selector is not None
        return sync_pb2.SnapshotPush(
            slot=sync_pb2.CANDIDATE,
            snapshot=worker_payload(self.candidate),
            selector=self.selector,
        ).SerializeToString()

    # ------------------------------------------------------------ health checks

    def _health_changed(self, unhealthy: frozenset[TargetKey]) -> None:
        self._health_news.set()

    def _health_payload(self) -> bytes:
        return json.dumps({"unhealthy": sorted(self.health.unhealthy)}).encode()

    async def _tell_health(self) -> None:
        """Send every worker the unhealthy targets whenever they change (the latest set
        only: changes that come while one is being sent go out together after it)."""
        while True:
            await self._health_news.wait()
            self._health_news.clear()
            payload = self._health_payload()
            workers = list(self.workers.values())
            await asyncio.gather(
                *(worker.tell_health(payload) for worker in workers), return_exceptions=True
            )

    # ------------------------------------------------------------ counters

    async def samples(self) -> SampleSum:
        """Every worker's counters, added up, with the supervisor's own."""
        total = SampleSum()
        answers = await asyncio.gather(
            *(worker.query(Kind.SAMPLES) for worker in list(self.workers.values())),
            return_exceptions=True,
        )
        for answer in answers:
            if isinstance(answer, dict):
                total.add(answer)
        snapshot = self.snapshot
        if snapshot is not None:
            total.set("fleetgate_config_version", {}, snapshot.version)
            total.set("fleetgate_config_info", {"hash": snapshot.hash}, 1)
            total.set("fleetgate_config_apply_seconds", {}, self.apply_seconds)
            total.set("fleetgate_config_applied_timestamp_seconds", {}, self.applied_at)
        for result, count in self.applies.items():
            total.set("fleetgate_config_applies_total", {"result": result}, count)
        for name, value in self.limits.samples():
            total.set(name, {}, value)
        for (service, address), healthy in self.health.states().items():
            labels = {"service": service, "target": address}
            total.set("fleetgate_target_healthy", labels, int(healthy))
        total.set("fleetgate_workers", {}, len(self.workers))
        total.set("fleetgate_worker_restarts_total", {}, self.restarts)
        total.set("fleetgate_worker_stalls_total", {}, self.stalls)
        return total

    async def config_dump(self) -> dict[str, Any]:
        """The configs being served, in the file shape, secrets redacted (`/config_dump`):
        the active one and, during a rollout, the candidate (else None)."""
        snapshot, candidate, selector = self.snapshot, self.candidate, self.selector
        active = None
        if snapshot is not None:
            active = await asyncio.to_thread(lambda: config_dump(_whole(snapshot)))
        if candidate is None:
            return {"active": active, "candidate": None}
        dumped = await asyncio.to_thread(candidate_dump, candidate, selector)
        return {"active": active, "candidate": dumped}

    async def stats_page(self) -> dict[str, Any]:
        """Every counter, grouped for reading (`/stats`)."""
        total = await self.samples()
        snapshot = self.snapshot
        node = {
            "version": None if snapshot is None else snapshot.version,
            "hash": None if snapshot is None else snapshot.hash,
            "ready": self.ready,
            "uptime_seconds": round(time.monotonic() - self.started_at, 3),
            "workers": len(self.workers),
            "worker_restarts": self.restarts,
            "worker_stalls": self.stalls,
            "applies": dict(self.applies),
            "apply_seconds": round(self.apply_seconds, 6),
        }
        return stats_document(total, node)

    async def _poll_summaries(self) -> None:
        while True:
            await self._read_summaries()
            await asyncio.sleep(SUMMARY_INTERVAL)

    async def _read_summaries(self) -> None:
        for index, worker in list(self.workers.items()):
            with contextlib.suppress(WorkerGone):
                self._summaries[index] = await worker.query(Kind.SUMMARY)

    async def _restart_sides(self) -> None:
        """Count each side's figures from now: a new candidate's are its own alone."""
        await self._read_summaries()
        width = len(LATENCY_BOUNDS) + 1
        sides = _side_totals(list(self._summaries.values()), width)
        reported = self._reported
        self._reported = _Totals(
            reported.at, reported.requests, reported.errors, reported.buckets, sides
        )

    def stats(self) -> NodeStats:
        """Request rate, 5xx rate and latency since the previous call (workers' last
        summaries, at most a second old), for all requests and for each side of a
        rollout; open connections and the applied snapshots."""
        now = time.monotonic()
        requests = errors = connections = 0
        width = len(LATENCY_BOUNDS) + 1  # as in WorkerMetrics.summary
        buckets = [0] * width
        for summary in list(self._summaries.values()):
            requests += int(summary["requests"])  # type: ignore[arg-type]
            errors += int(summary["errors"])  # type: ignore[arg-type]
            connections += int(summary["open_connections"])  # type: ignore[arg-type]
            for i, count in enumerate(summary["buckets"]):  # type: ignore[arg-type]
                buckets[i] += count
        previous = self._reported
        side_totals = _side_totals(list(self._summaries.values()), width)
        current = _Totals(now, requests, errors, tuple(buckets), side_totals)
        self._reported = current
        overall = current.since(previous, now)
        elapsed = max(now - previous.at, 1e-9)
        before = previous.sides or ((0, 0, ()), (0, 0, ()))
        active, candidate_side = (_side_stats(side_totals[i], before[i], elapsed) for i in range(2))
        snapshot, candidate = self.snapshot, self.candidate
        return NodeStats(
            version=0 if snapshot is None else snapshot.version,
            hash="" if snapshot is None else snapshot.hash,
            candidate_version=0 if candidate is None else candidate.version,
            candidate_hash="" if candidate is None else candidate.hash,
            requests=overall.requests,
            request_rate=overall.request_rate,
            error_rate=overall.error_rate,
            p50_ms=overall.p50_ms,
            p99_ms=overall.p99_ms,
            open_connections=connections,
            uptime_seconds=now - self.started_at,
            targets=self.targets(),
            sides=(active, candidate_side),
        )

    def targets(self) -> tuple[TargetState, ...]:
        """Health and breaker state of the targets that have either (the workers' breaker
        states are from their last summaries, at most a second old)."""
        reported = [summary.get("breakers", []) for summary in list(self._summaries.values())]
        return node_targets(self.health.states(), reported)  # type: ignore[arg-type]

    def __repr__(self) -> str:
        version = None if self.snapshot is None else self.snapshot.version
        return f"<Node workers={len(self.workers)} version={version} ready={self.ready}>"


def _whole(snapshot: pb.Snapshot) -> pb.Snapshot:
    """`snapshot` as a whole message: a `SnapshotView` (a pushed release, read with
    only its changed routes parsed) is parsed whole, for what reads every field."""
    view: object = snapshot
    return view.snapshot() if isinstance(view, SnapshotView) else snapshot


def worker_payload(snapshot: pb.Snapshot) -> bytes:
    """`snapshot` as workers are sent it: serialized deterministically, so that an entity
    that did not change lies in it as the same bytes as before, which is how a worker's
    compile knows to reuse what it built from it (see `runtime.Definitions`).

    A snapshot pushed by the control plane is sent as it came instead: the control plane
    stores every release serialized deterministically, and serializing 10,000 routes
    again costs the supervisor about 0.4 ms of CPU per change. (Should some other bytes
    come, an unchanged entity that lies in them as other bytes than before is compiled
    again; nothing is reused wrongly, since a worker reuses only by equal bytes.)"""
    return snapshot.SerializeToString(deterministic=True)


async def _two_phase(
    workers: list[WorkerProcess], preparing: list[Awaitable[None]], version: int
) -> None:
    """Wait for every worker's prepare; then all commit, or all abort when one refused."""
    prepared = await asyncio.gather(*preparing, return_exceptions=True)
    refused = [r for r in prepared if isinstance(r, BaseException)]
    if refused:
        await asyncio.gather(*(w.abort() for w in workers), return_exceptions=True)
        reason = refused[0]
        if isinstance(reason, ValueError):
            raise ApplyError(str(reason))
        raise ApplyError(f"workers could not apply v{version}: {reason}")
    committed = await asyncio.gather(*(w.commit() for w in workers), return_exceptions=True)
    failed = [str(r) for r in committed if isinstance(r, BaseException)]
    if failed:
        raise ApplyError(f"workers could not apply v{version}: {failed[0]}")


async def _on_every(workers: list[WorkerProcess], step: str, version: int) -> None:
    """Have every worker take `step` (promote, drop_candidate): nothing to compile."""
    done = await asyncio.gather(*(getattr(w, step)() for w in workers), return_exceptions=True)
    failed = [str(r) for r in done if isinstance(r, BaseException)]
    if failed:
        raise ApplyError(f"workers could not {step.replace('_', ' ')} v{version}: {failed[0]}")


async def start_node(
    settings: NodeSettings, on_hangup: Callable[[], None]
) -> tuple[Node, asyncio.Event]:
    """A started node, and the event SIGTERM or SIGINT sets; SIGHUP calls `on_hangup`,
    SIGUSR1 has the workers open their access log again.

    The handlers are in place before anything starts, so no signal kills the process
    half-started. Raises OSError, with the node stopped again, when a port is taken.
    """
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    loop.add_signal_handler(signal.SIGHUP, on_hangup)
    node = Node(settings)
    reopening: set[asyncio.Task[None]] = set()

    def reopen() -> None:
        task = asyncio.ensure_future(node.reopen_logs())
        reopening.add(task)
        task.add_done_callback(reopening.discard)

    loop.add_signal_handler(signal.SIGUSR1, reopen)
    try:
        await node.start()
    except OSError:
        await node.stop()
        raise
    return node, stop


def _check_port_free(host: str, port: int) -> None:
    """Refuse a proxy port another process listens on.

    Workers bind with SO_REUSEPORT, which would let this node quietly share the port
    (and its traffic) with whatever holds it; a bind without it fails instead.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise OSError(exc.errno, f"{host}:{port} is in use by another process") from None


def _check_compiles(snapshot: pb.Snapshot, settings: NodeSettings) -> None:
    """Compile once, throwing the result away: the workers' compile will not fail."""
    compile_snapshot(snapshot, limits=settings.limits, metrics=WorkerMetrics())
