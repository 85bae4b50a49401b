"""The upstream read timeout counts the upstream's silences, never a slow client's.

Driven without sockets or a running loop: a client connection and a pooled upstream
connection of the proxy's own, on transports that only record, and the exchange's
deadline check called with a clock the test moves.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import uvloop

from data_plane.config.model import GatewayConfig
from data_plane.config.snapshot import build_snapshot
from data_plane.http.core import (
    DownstreamConnection,
    Exchange,
    ProxyState,
    UpstreamConnection,
)
from data_plane.metrics import READ, WorkerMetrics
from data_plane.runtime import compile_snapshot
from data_plane.settings import Limits

READ_TIMEOUT = 1.0
CONFIG = {
    "services": [{"name": "app", "targets": [{"address": "127.0.0.1:9"}]}],
    "routes": [
        {"name": "all", "paths": ["/**"], "service": "app", "timeouts": {"read": READ_TIMEOUT}}
    ],
}


class RecordingTransport:
    def __init__(self) -> None:
        self.written = 0
        self.aborted = False
        self.reading = True

    def write(self, data: bytes) -> None:
        self.written += len(data)

    def writelines(self, parts: list[bytes]) -> None:
        self.written += sum(map(len, parts))

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 40000) if name == "peername" else default

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def is_closing(self) -> bool:
        return self.aborted

    def close(self) -> None:
        self.aborted = True

    def abort(self) -> None:
        self.aborted = True


@pytest.fixture
def proxy() -> Iterator[tuple[ProxyState, DownstreamConnection, UpstreamConnection]]:
    limits = Limits()
    metrics = WorkerMetrics()
    runtime = compile_snapshot(
        build_snapshot(GatewayConfig.model_validate(CONFIG)), limits=limits, metrics=metrics
    )
    loop = uvloop.new_event_loop()
    state = ProxyState(loop, limits, metrics, runtime)
    conn = DownstreamConnection(state)
    conn.connection_made(RecordingTransport())  # type: ignore[arg-type]
    pool = runtime.services["app"].pool
    upstream = UpstreamConnection(pool, 0, state)
    upstream.connection_made(RecordingTransport())  # type: ignore[arg-type]
    pool.release(upstream, state.now)
    yield state, conn, upstream
    loop.close()


def _streaming(conn: DownstreamConnection, upstream: UpstreamConnection) -> Exchange:
    """An exchange whose response has begun and goes on."""
    conn.data_received(b"GET /stream HTTP/1.1\r\nHost: gw.test\r\n\r\n")
    exchange = conn.current
    assert exchange is not None and exchange.upstream is upstream
    upstream.data_received(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"x" * 100)
    assert exchange.response_started and not exchange.ended
    return exchange


def test_a_client_pause_longer_than_the_read_timeout_is_not_the_upstreams(
    proxy: tuple[ProxyState, DownstreamConnection, UpstreamConnection],
) -> None:
    state, conn, upstream = proxy
    exchange = _streaming(conn, upstream)
    conn.pause_writing()  # the client reads slower than the upstream sends
    assert upstream.reading_paused
    state.now += 5 * READ_TIMEOUT
    exchange.check_deadlines(state.now)  # the upstream is held: not late
    conn.resume_writing()
    assert not upstream.reading_paused
    # A deadline check before the upstream's next read: the pause is not its silence.
    exchange.check_deadlines(state.now + 0.1)
    assert not exchange.ended and not conn.transport.is_closing()
    upstream.data_received(b"x" * 900)
    assert exchange.ended and exchange.status == 200
    assert exchange.plan is not None
    assert exchange.plan.service.counters.timeouts[READ] == 0


def test_an_upstream_silent_for_the_read_timeout_is_late(
    proxy: tuple[ProxyState, DownstreamConnection, UpstreamConnection],
) -> None:
    state, conn, upstream = proxy
    exchange = _streaming(conn, upstream)
    state.now += READ_TIMEOUT
    exchange.check_deadlines(state.now)
    assert exchange.ended and conn.transport.is_closing()
    assert exchange.plan is not None
    assert exchange.plan.service.counters.timeouts[READ] == 1
