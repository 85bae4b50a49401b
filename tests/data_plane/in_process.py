"""The proxy's own objects serving on a loopback port, in a thread of the test process.

A worker without its process: the same `ProxyState` and `DownstreamConnection` a worker
runs, on a uvloop loop of its own, with the worker's deadline tick. Tests talk to it
over real sockets with the raw-HTTP helpers of `running_node`, and look inside between
requests (`on_loop` runs a function on the proxy's loop and returns its result), so
they can check what an exchange let go of: targets, watches, pooled connections, the
policies' releases.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import socket
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar, cast

import uvloop

from data_plane.config.model import GatewayConfig
from data_plane.config.snapshot import build_snapshot
from data_plane.http.core import DownstreamConnection, ProxyState
from data_plane.metrics import WorkerMetrics
from data_plane.runtime import RoutePlan, RuntimeConfig, ServiceRuntime, compile_snapshot
from data_plane.settings import Limits
from tests.data_plane.running_node import Response, read_response

T = TypeVar("T")
TICK = 0.02  # seconds between deadline checks: tighter than a worker's, for quick tests


class InProcessProxy:
    """Use as a context manager; `config` is a gateway document (file shape)."""

    def __init__(self, config: dict[str, Any], limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self.metrics = WorkerMetrics()
        self.runtime: RuntimeConfig = compile_snapshot(
            build_snapshot(GatewayConfig.model_validate(config)),
            limits=self.limits,
            metrics=self.metrics,
        )
        self.port = 0
        self.state: ProxyState | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._started = threading.Event()

    def __enter__(self) -> InProcessProxy:
        self._thread = threading.Thread(target=self._run, name="in-process-proxy", daemon=True)
        self._thread.start()
        if not self._started.wait(10):
            raise RuntimeError("the in-process proxy did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        loop = self._loop
        if loop is not None and self._thread is not None:
            loop.call_soon_threadsafe(loop.stop)
            self._thread.join(10)

    def _run(self) -> None:
        loop = uvloop.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        self.state = state = ProxyState(loop, self.limits, self.metrics, self.runtime)
        server = loop.run_until_complete(
            loop.create_server(
                lambda: cast(asyncio.Protocol, DownstreamConnection(state)), "127.0.0.1", 0
            )
        )
        self.port = server.sockets[0].getsockname()[1]

        def tick(count: int = 0) -> None:
            if count % int(1 / TICK) == 0:
                state.tick()
            state.check_deadlines()
            loop.call_later(TICK, tick, count + 1)

        tick()
        self._started.set()
        try:
            loop.run_forever()
        finally:
            server.close()
            loop.close()

    # ------------------------------------------------------------ looking inside

    def on_loop(self, function: Callable[[], T]) -> T:
        """Run `function` on the proxy's loop, between callbacks; its result."""
        assert self._loop is not None
        done: concurrent.futures.Future[T] = concurrent.futures.Future()

        def call() -> None:
            try:
                done.set_result(function())
            except BaseException as exc:  # handed to the test thread
                done.set_exception(exc)

        self._loop.call_soon_threadsafe(call)
        return done.result(10)

    def service(self, name: str) -> ServiceRuntime:
        return self.runtime.services[name]

    def plan(self, path: str, host: str = "gw.test") -> RoutePlan:
        match = self.runtime.table.match("GET", host, path, None)
        assert match is not None and isinstance(match.route, RoutePlan)
        return match.route

    def reading(self) -> dict[str, int]:
        """What the proxy holds: for requests in flight (zero once they all ended), and
        upstream connections open and idle per service (`<service>_open`, `_idle`)."""

        def count() -> dict[str, int]:
            assert self.state is not None
            services = self.runtime.services
            reading = {
                "watched": len(self.state.watched),
                "backoffs": len(self.state._sleepers),
                "service_active": sum(s.active for s in services.values()),
                "target_active": sum(
                    t.active for s in services.values() for t in s.balancer.targets
                ),
                "connections": len(self.state.connections),
            }
            for name, service in services.items():
                reading[f"{name}_open"] = service.pool.counters.open
                reading[f"{name}_idle"] = service.pool.counters.idle
            return reading

        return self.on_loop(count)

    def settled(
        self,
        expected: dict[str, int],
        timeout: float = 10.0,
        reading: Callable[[], Any] | None = None,
    ) -> dict[str, int]:
        """The readings named in `expected`, once they equal it or the time is up.

        `reading` adds a reading of the test's own, under the one name of `expected`
        that `reading()` lacks.
        """
        deadline = time.monotonic() + timeout
        while True:
            found = self.reading()
            if reading is not None:
                extra = self.on_loop(reading)
                found.update({key: extra for key in expected if key not in found})
            found = {key: found[key] for key in expected}
            if found == expected or time.monotonic() > deadline:
                return found
            time.sleep(0.02)

    # ------------------------------------------------------------ raw HTTP

    def connect(self, timeout: float = 10.0) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def request(self, data: bytes) -> Response:
        with self.connect() as sock:
            sock.sendall(data)
            return read_response(sock)
