"""Active health checks: one HTTP GET per target every interval, run once per node.

The node's supervisor runs them (never the workers: a check that hangs, answers 500,
closes at once or finds nothing listening costs the supervisor one bounded task per
checked target, and a worker nothing). A target becomes unhealthy after
`unhealthy_threshold` checks in a row fail and healthy again after `healthy_threshold`
pass; every change goes to every worker at once (`data_plane/node.py`), whose balancers
then stop or resume picking the target.

A check passes when, within `timeout`, a connection opens, `GET <path>` with the
target's address as Host is sent, and the status line that comes back has one of
`expected_statuses`. Checks are jittered (each interval is 90-110% of the configured
one, the first one falls anywhere in the first interval), so a fleet of nodes does not
check in lockstep. `HealthState` is the pure part: it counts passes and failures.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import re
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import quote

from fleetgate_pb import config_pb2 as pb

from data_plane.config.syntax import parse_host_port
from data_plane.http.tls import upstream_context

log = logging.getLogger("fleetgate.health")

MIN_INTERVAL = 0.1  # seconds: a shorter configured interval is checked this often
MAX_STATUS_LINE = 1024  # bytes read of an answer at most: its status line
_PATH_CHARACTERS = "/?=&%:@!$'()*+,;~-._"  # with letters and digits: RFC 3986 path and query
_STATUS_LINE = re.compile(rb"HTTP/1\.[01] ([1-5][0-9][0-9])(?: [^\r\n]*)?\r?\n")

TargetKey = tuple[str, str]  # (service name, target address)


class HealthState:
    """The health of one target, from the checks' results, with the thresholds given."""

    __slots__ = ("failures", "healthy", "healthy_threshold", "passes", "unhealthy_threshold")

    def __init__(self, healthy_threshold: int, unhealthy_threshold: int) -> None:
        self.healthy_threshold = max(1, healthy_threshold)
        self.unhealthy_threshold = max(1, unhealthy_threshold)
        self.healthy = True  # until checks say otherwise: a new target takes traffic
        self.passes = 0  # in a row
        self.failures = 0  # in a row

    def observe(self, passed: bool) -> bool:
        """One check's result; True when it changed `healthy`."""
        if passed:
            self.failures = 0
            self.passes += 1
            if not self.healthy and self.passes >= self.healthy_threshold:
                self.healthy = True
                return True
            return False
        self.passes = 0
        self.failures += 1
        if self.healthy and self.failures >= self.unhealthy_threshold:
            self.healthy = False
            return True
        return False

    def __repr__(self) -> str:
        word = "healthy" if self.healthy else "unhealthy"
        return f"<HealthState {word} passes={self.passes} failures={self.failures}>"


@dataclass(frozen=True, slots=True)
class CheckSettings:
    """How one target is checked: its service's health_check, compiled."""

    host: str
    port: int
    request: bytes
    interval: float
    timeout: float
    expected: frozenset[int]
    healthy_threshold: int
    unhealthy_threshold: int
    # The service's tls, serialized (b"": plain HTTP): the check goes the way requests do.
    tls: bytes = b""

    @classmethod
    def of(
        cls, check: pb.HealthCheck, address: str, tls: pb.UpstreamTls | None = None
    ) -> CheckSettings:
        host, port = parse_host_port(address)
        # Whatever the path holds, the request line stays one valid line: bytes outside
        # a path and query's characters are percent-encoded.
        path = quote(check.path or "/", safe=_PATH_CHARACTERS)
        request = (
            b"GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: fleetgate-health-check\r\n"
            b"Connection: close\r\n\r\n" % (path.encode("ascii"), address.encode())
        )
        return cls(
            host=host,
            port=port,
            request=request,
            interval=max(MIN_INTERVAL, check.interval),
            timeout=check.timeout,
            expected=frozenset(check.expected_statuses or (200,)),
            healthy_threshold=check.healthy_threshold,
            unhealthy_threshold=check.unhealthy_threshold,
            tls=b"" if tls is None else tls.SerializeToString(deterministic=True),
        )


async def probe(settings: CheckSettings) -> bool:
    """One check of a target: whether it answered an expected status within the timeout."""
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(settings.timeout):
            tls = None if not settings.tls else _tls_context(settings.tls)
            server_name = None
            if tls is not None:
                server_name = pb.UpstreamTls.FromString(settings.tls).sni or settings.host
            reader, writer = await asyncio.open_connection(
                settings.host,
                settings.port,
                limit=MAX_STATUS_LINE,
                ssl=tls,
                server_hostname=server_name,
            )
            writer.write(settings.request)
            line = await reader.readline()
    except (OSError, TimeoutError, ValueError):
        return False  # refused, unreachable, silent, or a line longer than the limit
    finally:
        if writer is not None:
            writer.transport.abort()
    matched = _STATUS_LINE.fullmatch(line)
    return matched is not None and int(matched[1]) in settings.expected


@functools.lru_cache(maxsize=64)
def _tls_context(tls: bytes) -> ssl.SSLContext:
    """The client context of a service's serialized tls, made once for all its checks."""
    return upstream_context(pb.UpstreamTls.FromString(tls))


class HealthChecker:
    """Checks every target of every service that has a health_check, in one task each.

    `update(snapshot)` starts, keeps or stops those tasks as a new snapshot is applied;
    `on_change` is called with the set of unhealthy targets whenever it changes. The
    probe is an argument, for tests.
    """

    def __init__(
        self,
        on_change: Callable[[frozenset[TargetKey]], None],
        *,
        check: Callable[[CheckSettings], Awaitable[bool]] = probe,
        rng: random.Random | None = None,
    ) -> None:
        self._on_change = on_change
        self._check = check
        self._rng = rng or random.Random()
        self._settings: dict[TargetKey, CheckSettings] = {}
        self._states: dict[TargetKey, HealthState] = {}
        self._tasks: dict[TargetKey, asyncio.Task[None]] = {}
        self.checks = 0  # checks made, for tests and /metrics

    @property
    def unhealthy(self) -> frozenset[TargetKey]:
        return frozenset(key for key, state in self._states.items() if not state.healthy)

    def states(self) -> dict[TargetKey, bool]:
        """Whether each checked target is healthy."""
        return {key: state.healthy for key, state in self._states.items()}

    def update(self, snapshot: pb.Snapshot) -> None:
        """Check the targets `snapshot` asks to check, and only those."""
        wanted: dict[TargetKey, CheckSettings] = {}
        for service in snapshot.services:
            if not (service.HasField("health_check") and service.health_check.enabled):
                continue
            for target in service.targets:
                key = (service.name, target.address)
                tls = service.tls if service.HasField("tls") else None
                wanted[key] = CheckSettings.of(service.health_check, target.address, tls)
        before = self.unhealthy
        for key in list(self._tasks):
            if wanted.get(key) != self._settings.get(key):
                self._forget(key)
        for key, settings in wanted.items():
            if key not in self._tasks:
                self._settings[key] = settings
                self._states[key] = HealthState(
                    settings.healthy_threshold, settings.unhealthy_threshold
                )
                self._tasks[key] = asyncio.ensure_future(self._run(key, settings))
        if self.unhealthy != before:
            self._on_change(self.unhealthy)

    def stop(self) -> None:
        for key in list(self._tasks):
            self._forget(key)

    def _forget(self, key: TargetKey) -> None:
        self._tasks.pop(key).cancel()
        self._settings.pop(key, None)
        self._states.pop(key, None)

    async def _run(self, key: TargetKey, settings: CheckSettings) -> None:
        loop = asyncio.get_running_loop()
        rng = self._rng
        due = loop.time() + rng.uniform(0, settings.interval)
        while True:
            await asyncio.sleep(max(0.0, due - loop.time()))
            due += settings.interval * rng.uniform(0.9, 1.1)
            try:
                passed = await self._check(settings)
            except Exception:  # a bug in a check must not end this target's checks
                log.exception("checking %s of service %s failed unexpectedly", key[1], key[0])
                passed = False
            self.checks += 1
            state = self._states.get(key)
            if state is None:
                return  # forgotten meanwhile
            if state.observe(passed):
                service, address = key
                if state.healthy:
                    log.warning(
                        "service %s target %s: healthy again (%d checks passed)",
                        service,
                        address,
                        state.healthy_threshold,
                    )
                else:
                    log.warning(
                        "service %s target %s: unhealthy (%d checks failed)",
                        service,
                        address,
                        state.unhealthy_threshold,
                    )
                self._on_change(self.unhealthy)
            # A check slower than the interval is not followed by a burst of catch-up checks.
            due = max(due, loop.time())

    def __repr__(self) -> str:
        return f"<HealthChecker targets={len(self._tasks)} unhealthy={len(self.unhealthy)}>"
