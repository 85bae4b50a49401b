"""Fixtures of the config-sync tests: a migrated store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from control_plane.store.db import Database
from control_plane.store.migrate import upgrade
from tests.conftest import open_store


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[Database]:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    upgrade(url)
    with open_store(url) as db:
        yield db


@pytest.fixture
def postgres_db(postgres_url: str) -> Iterator[Database]:
    upgrade(postgres_url)
    with open_store(postgres_url) as db:
        yield db


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest) -> Database:
    """A migrated, empty store: SQLite, then PostgreSQL."""
    fixture = "sqlite_db" if request.param == "sqlite" else "postgres_db"
    database: Database = request.getfixturevalue(fixture)
    return database
