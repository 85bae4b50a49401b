"""The store's engine and sessions, for SQLite (the default) and PostgreSQL.

SQLite is tuned for a small shared server: WAL so readers never wait for the writer,
foreign keys enforced, and every transaction opened with `BEGIN IMMEDIATE` so that two
writers queue on the busy timeout instead of failing when one upgrades a read lock.
PostgreSQL runs through psycopg 3; writers there serialize on an advisory lock
(`lock_config`), so a change is validated against the state it will be committed on
even when several control-plane replicas share the database.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker

# Seconds a SQLite writer waits for another one before giving up.
SQLITE_BUSY_TIMEOUT = 30.0
# Key of the PostgreSQL advisory lock that serializes config writers (any fixed bigint).
CONFIG_LOCK_KEY = 0x666C656574676174  # "fleetgat"


def store_url(url: str | URL) -> URL:
    """`url` with PostgreSQL mapped to the psycopg 3 driver, which is the one installed."""
    parsed = make_url(url)
    if parsed.drivername in {"postgresql", "postgres"}:
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def is_sqlite(url: str | URL) -> bool:
    return store_url(url).get_backend_name() == "sqlite"


def make_engine(url: str | URL) -> Engine:
    parsed = store_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(parsed, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:" and "mode=memory" not in str(parsed):
        create_private(Path(parsed.database))
    engine = create_engine(
        parsed,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT, "check_same_thread": False},
    )
    event.listen(engine, "connect", _sqlite_connect)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def create_private(path: Path) -> None:
    """Create the SQLite file readable by its owner only, unless it exists.

    It holds JWT secrets and API key hashes; SQLite would create it 0644 (and its WAL
    and shared-memory files take the mode of the database file).
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    except OSError:
        return  # a missing directory: SQLite will say so, naming the file
    os.close(fd)


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Take BEGIN away from the sqlite3 module, which would otherwise start transactions
    # only at the first write and so let reads of one transaction see others' commits.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")


class Database:
    """One store: its engine and a factory of sessions."""

    def __init__(self, url: str | URL) -> None:
        self.url = store_url(url)
        self.engine = make_engine(self.url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    def __repr__(self) -> str:
        return f"<Database {self.url.render_as_string(hide_password=True)}>"

    @property
    def is_postgres(self) -> bool:
        return self.url.get_backend_name() == "postgresql"

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session whose uncommitted work is rolled back when the block ends."""
        with self.sessions() as session:
            yield session

    def ping(self) -> None:
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()


def lock_config(session: Session) -> None:
    """Serialize config writers until the session's transaction ends.

    SQLite already did so with BEGIN IMMEDIATE; on PostgreSQL a transaction-scoped
    advisory lock makes concurrent changes from several replicas take turns.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CONFIG_LOCK_KEY})
