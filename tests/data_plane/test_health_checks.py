"""Active health checks without a node: the pure health state, one probe against real
loopback sockets (200, 500, silence, a closed connection, nothing listening), and the
checker's tasks (DESIGN.md, "Resilience"; issue 13, point 1)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable

from fleetgate_pb import config_pb2 as pb

from data_plane.resilience.health import CheckSettings, HealthChecker, HealthState, probe
from tests.conftest import free_port
from tests.sync.harness import run

# ---------------------------------------------------------------- the state


def test_a_target_starts_healthy() -> None:
    assert HealthState(2, 3).healthy


def test_unhealthy_after_unhealthy_threshold_failures_in_a_row() -> None:
    state = HealthState(2, 3)
    assert not state.observe(False)
    assert not state.observe(False)
    assert state.observe(False)
    assert not state.healthy
    assert repr(state) == "<HealthState unhealthy passes=0 failures=3>"


def test_a_pass_between_failures_starts_the_count_again() -> None:
    state = HealthState(2, 3)
    for passed in (False, False, True, False, False):
        assert not state.observe(passed)
    assert state.healthy


def test_healthy_again_after_healthy_threshold_passes_in_a_row() -> None:
    state = HealthState(2, 1)
    state.observe(False)
    assert not state.observe(True)
    assert not state.observe(False)
    assert not state.observe(True)
    assert state.observe(True)
    assert state.healthy


# ---------------------------------------------------------------- one probe

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def serve(handler: Handler) -> AsyncIterator[str]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.close()


def settings(
    address: str, *, expected: tuple[int, ...] = (200,), timeout: float = 2.0
) -> CheckSettings:
    check = pb.HealthCheck(
        enabled=True,
        path="/hz",
        interval=1.0,
        timeout=timeout,
        healthy_threshold=1,
        unhealthy_threshold=1,
        expected_statuses=expected,
    )
    return CheckSettings.of(check, address)


def answering(status_line: bytes, seen: list[bytes] | None = None) -> Handler:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        if seen is not None:
            seen.append(head)
        writer.write(status_line + b"Content-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    return handler


async def probe_of(handler: Handler, **options: object) -> bool:
    async for address in serve(handler):
        return await probe(settings(address, **options))  # type: ignore[arg-type]
    raise AssertionError("unreachable")


def test_an_expected_status_passes_and_the_request_names_path_and_host() -> None:
    async def scenario() -> None:
        seen: list[bytes] = []
        async for address in serve(answering(b"HTTP/1.1 200 OK\r\n", seen)):
            assert await probe(settings(address))
            assert seen[0].startswith(b"GET /hz HTTP/1.1\r\nHost: %s\r\n" % address.encode())

    run(scenario())


def test_a_500_fails() -> None:
    async def scenario() -> None:
        assert not await probe_of(answering(b"HTTP/1.1 500 Internal Server Error\r\n"))

    run(scenario())


def test_the_expected_statuses_are_the_configured_ones() -> None:
    async def scenario() -> None:
        assert await probe_of(answering(b"HTTP/1.1 204 No Content\r\n"), expected=(200, 204))
        assert not await probe_of(answering(b"HTTP/1.1 200 OK\r\n"), expected=(204,))

    run(scenario())


def test_a_target_that_never_answers_fails_at_the_timeout() -> None:
    async def scenario() -> None:
        async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await asyncio.sleep(30)

        assert not await asyncio.wait_for(probe_of(silent, timeout=0.2), 10)

    run(scenario())


def test_a_target_that_closes_at_once_fails() -> None:
    async def scenario() -> None:
        async def closing(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.close()

        assert not await probe_of(closing)

    run(scenario())


def test_nothing_listening_fails() -> None:
    async def scenario() -> None:
        assert not await probe(settings(f"127.0.0.1:{free_port()}"))

    run(scenario())


def test_a_reply_that_is_not_http_fails() -> None:
    async def scenario() -> None:
        assert not await probe_of(answering(b"SSH-2.0-OpenSSH\r\n"))
        assert not await probe_of(answering(b"HTTP/1.1 200" + b"x" * 5000 + b"\r\n"))

    run(scenario())


# ---------------------------------------------------------------- the checker


def snapshot(*services: tuple[str, list[str], float]) -> pb.Snapshot:
    return pb.Snapshot(
        services=[
            pb.Service(
                name=name,
                targets=[pb.Target(address=a, weight=1) for a in addresses],
                health_check=pb.HealthCheck(
                    enabled=True,
                    path="/",
                    interval=interval,
                    timeout=1.0,
                    healthy_threshold=2,
                    unhealthy_threshold=2,
                ),
            )
            for name, addresses, interval in services
        ]
    )


class FakeTargets:
    """What each target's checks answer, set by the test: a check is a function here."""

    def __init__(self) -> None:
        self.down: set[int] = set()
        self.checked: list[int] = []

    async def check(self, settings: CheckSettings) -> bool:
        self.checked.append(settings.port)
        return settings.port not in self.down


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "the condition never held"
        await asyncio.sleep(0.01)


def test_the_checker_reports_a_target_down_then_up_again() -> None:
    async def scenario() -> None:
        targets = FakeTargets()
        changes: list[frozenset[tuple[str, str]]] = []
        checker = HealthChecker(changes.append, check=targets.check, rng=random.Random(1))
        checker.update(snapshot(("svc", ["127.0.0.1:1001", "127.0.0.1:1002"], 0.1)))
        try:
            targets.down.add(1002)
            await until(lambda: bool(changes))
            assert changes == [frozenset({("svc", "127.0.0.1:1002")})]
            targets.down.clear()
            await until(lambda: len(changes) == 2)
            assert changes[1] == frozenset()
            assert checker.states() == {
                ("svc", "127.0.0.1:1001"): True,
                ("svc", "127.0.0.1:1002"): True,
            }
        finally:
            checker.stop()

    run(scenario())


def test_the_checker_runs_one_task_per_checked_target_and_stops_removed_ones() -> None:
    async def scenario() -> None:
        targets = FakeTargets()
        checker = HealthChecker(lambda unhealthy: None, check=targets.check)
        before = len(asyncio.all_tasks())
        checker.update(
            snapshot(
                ("a", ["127.0.0.1:1001", "127.0.0.1:1002"], 0.1), ("b", ["127.0.0.1:1003"], 0.1)
            )
        )
        try:
            assert len(asyncio.all_tasks()) == before + 3
            await until(lambda: len(targets.checked) >= 12)
            assert len(asyncio.all_tasks()) == before + 3
            checker.update(snapshot(("a", ["127.0.0.1:1001"], 0.1)))
            await asyncio.sleep(0)
            assert len(asyncio.all_tasks()) == before + 1
            assert repr(checker) == "<HealthChecker targets=1 unhealthy=0>"
        finally:
            checker.stop()
        await asyncio.sleep(0)
        assert len(asyncio.all_tasks()) == before

    run(scenario())


def test_a_target_removed_while_unhealthy_is_no_longer_reported() -> None:
    async def scenario() -> None:
        targets = FakeTargets()
        targets.down.add(1002)
        changes: list[frozenset[tuple[str, str]]] = []
        checker = HealthChecker(changes.append, check=targets.check)
        checker.update(snapshot(("svc", ["127.0.0.1:1001", "127.0.0.1:1002"], 0.1)))
        try:
            await until(lambda: bool(changes))
            checker.update(snapshot(("svc", ["127.0.0.1:1001"], 0.1)))
            assert changes[-1] == frozenset()
        finally:
            checker.stop()

    run(scenario())


def test_unchanged_targets_keep_their_state_across_updates() -> None:
    async def scenario() -> None:
        targets = FakeTargets()
        targets.down.add(1002)
        changes: list[frozenset[tuple[str, str]]] = []
        checker = HealthChecker(changes.append, check=targets.check)
        config = snapshot(("svc", ["127.0.0.1:1001", "127.0.0.1:1002"], 0.1))
        checker.update(config)
        try:
            await until(lambda: bool(changes))
            checker.update(config)
            assert checker.unhealthy == frozenset({("svc", "127.0.0.1:1002")})
            assert len(changes) == 1
        finally:
            checker.stop()

    run(scenario())


def test_the_request_line_stays_one_line_whatever_the_path_holds() -> None:
    check = pb.HealthCheck(enabled=True, path="/h z\r\nX: 1?a=1&b=é", timeout=1.0)
    request = CheckSettings.of(check, "10.0.0.1:80").request
    assert request.startswith(
        b"GET /h%20z%0D%0AX:%201?a=1&b=%C3%A9 HTTP/1.1\r\nHost: 10.0.0.1:80\r\n"
    )


def test_a_check_that_raises_counts_as_failed_and_checking_goes_on() -> None:
    async def scenario() -> None:
        calls: list[int] = []

        async def broken(settings: CheckSettings) -> bool:
            calls.append(1)
            raise RuntimeError("a bug")

        changes: list[frozenset[tuple[str, str]]] = []
        checker = HealthChecker(changes.append, check=broken)
        checker.update(snapshot(("svc", ["127.0.0.1:1001"], 0.1)))
        try:
            await until(lambda: len(calls) >= 3)
            assert changes == [frozenset({("svc", "127.0.0.1:1001")})]
        finally:
            checker.stop()

    run(scenario())
