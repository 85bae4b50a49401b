"""Fixtures shared by every test: real PostgreSQL and Redis, free loopback ports.

A test that needs a server it cannot reach is skipped locally and fails in CI, where
FLEETGATE_REQUIRE_SERVICES=1 is set.
"""

from __future__ import annotations

import contextlib
import os
import random
import socket
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from control_plane.store.db import Database

POSTGRES_ADMIN_URL = os.environ.get(
    "FLEETGATE_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("FLEETGATE_TEST_REDIS", "redis://127.0.0.1:6379/0")
REQUIRE_SERVICES = os.environ.get("FLEETGATE_REQUIRE_SERVICES") == "1"


def service_missing(what: str, error: Exception) -> None:
    """Skip the test, or fail it when CI requires every service."""
    message = f"{what} is not reachable: {error}"
    if REQUIRE_SERVICES:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def _ephemeral_low() -> int:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as ranges:
            return int(ranges.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


_EPHEMERAL_LOW = _ephemeral_low()
_handed_out: set[int] = set()
_ports = random.Random(os.getpid())


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing is bound to right now, never handed out twice.

    It is chosen below the kernel's ephemeral range: a port the kernel picked for `bind(0)`
    is one it may also give to an outgoing connection (of this test run or of anything else
    on the machine) before the test's server binds it, and two tests of one run may be
    handed the same one once it is released.
    """
    for _ in range(1000):
        port = _ports.randrange(20000, _EPHEMERAL_LOW)
        if port in _handed_out:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError("no free port below the ephemeral range")


@contextlib.contextmanager
def new_postgres_database(prefix: str = "fleetgate") -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database, dropped on leaving."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    try:
        admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        service_missing("PostgreSQL", exc)
    try:
        yield make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextlib.contextmanager
def open_store(url: str) -> Iterator[Database]:
    """The control plane's store at `url`, its connections closed on leaving."""
    from control_plane.store.db import Database

    database = Database(url)
    try:
        yield database
    finally:
        database.dispose()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database, dropped after the test."""
    with new_postgres_database() as url:
        yield url


@pytest.fixture
def redis_url() -> str:
    """The URL of the Redis server, checked to answer PING."""
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except Exception as exc:
        service_missing("Redis", exc)
    finally:
        client.close()
    return REDIS_URL
