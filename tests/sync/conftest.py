"""Fixtures of the config-sync tests: a migrated store."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from control_plane.store.db import Database
from tests.conftest import open_store


@pytest.fixture
def sqlite_db(migrated_sqlite_url: str) -> Iterator[Database]:
    with open_store(migrated_sqlite_url) as db:
        yield db


@pytest.fixture
def postgres_db(migrated_postgres_url: str) -> Iterator[Database]:
    with open_store(migrated_postgres_url) as db:
        yield db


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest) -> Database:
    """A migrated, empty store: SQLite, then PostgreSQL."""
    fixture = "sqlite_db" if request.param == "sqlite" else "postgres_db"
    database: Database = request.getfixturevalue(fixture)
    return database
