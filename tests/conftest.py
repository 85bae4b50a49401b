"""Fixtures shared by every test: real PostgreSQL and Redis, free loopback ports.

A test that needs a server it cannot reach is skipped locally and fails in CI, where
FLEETGATE_REQUIRE_SERVICES=1 is set.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from fastapi import FastAPI

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


# ---------------------------------------------------------------- migrated stores
# Migrating a new store takes about 0.2 s on SQLite and most of a second on PostgreSQL
# (creating the database included); the store tests need a migrated, empty store each,
# not a new one. Tests of the migrations themselves take `postgres_url`.


@pytest.fixture(scope="session")
def migrated_sqlite_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite store at the latest revision, made once: tests copy it."""
    from control_plane.store.migrate import upgrade

    path = tmp_path_factory.mktemp("migrated") / "store.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def migrated_sqlite_url(migrated_sqlite_file: Path, tmp_path: Path) -> str:
    """A migrated, empty SQLite store of the test's own: `fleetgate.db` in `tmp_path`."""
    path = tmp_path / "fleetgate.db"
    shutil.copyfile(migrated_sqlite_file, path)
    return f"sqlite:///{path}"


@pytest.fixture(scope="session")
def postgres_store() -> Iterator[str]:
    """One migrated PostgreSQL database for the session, emptied for each test using it."""
    from control_plane.store.migrate import upgrade

    with new_postgres_database("fleetgate_store") as url:
        upgrade(url)
        yield url


def empty_postgres(url: str) -> None:
    """Every table emptied and every sequence restarted, the schema (and Alembic's
    version) kept.

    DELETE with the foreign keys' triggers off for the transaction (a superuser's right,
    which the test server gives) takes a few milliseconds; TRUNCATE makes new files for
    every table and index, ten times that, and far more on a loaded machine.
    """
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import DBAPIError

    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            tables = [
                name
                for name in conn.execute(
                    text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
                ).scalars()
                if name != "alembic_version"
            ]
            sequences = conn.execute(
                text(
                    "SELECT sequence_name FROM information_schema.sequences"
                    " WHERE sequence_schema = 'public'"
                )
            ).scalars()
            try:
                with conn.begin_nested():
                    conn.execute(text("SET LOCAL session_replication_role = replica"))
                    for name in tables:
                        conn.execute(text(f'DELETE FROM "{name}"'))
            except DBAPIError:  # not a superuser: the slow way
                names = ", ".join(f'"{name}"' for name in tables)
                if names:
                    conn.execute(text(f"TRUNCATE {names} CASCADE"))
            for sequence in sequences:
                conn.execute(text(f'ALTER SEQUENCE "{sequence}" RESTART'))
    finally:
        engine.dispose()


@pytest.fixture
def migrated_postgres_url(postgres_store: str) -> str:
    """The session's migrated PostgreSQL store, emptied."""
    empty_postgres(postgres_store)
    return postgres_store


@pytest.fixture(scope="session")
def admin_app(tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    """One admin application for the session: FastAPI takes most of a second to build one.

    Everything it serves comes from `app.state.plane`, which each test sets to its own
    before entering a TestClient (whose lifespan reads it).
    """
    from control_plane.admin_auth import AdminAuth
    from control_plane.api.app import create_app
    from control_plane.plane import ControlPlane
    from control_plane.settings import ControlPlaneSettings
    from control_plane.store.db import Database

    url = f"sqlite:///{tmp_path_factory.mktemp('app') / 'unused.db'}"
    unused = ControlPlaneSettings(db=url)
    return create_app(ControlPlane.build(unused, Database(url), AdminAuth.for_token("unused")))


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
