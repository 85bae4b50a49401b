"""Schema migrations: from an empty database to head, and models equal to migrations."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from control_plane.cli import main
from control_plane.store.db import make_engine
from control_plane.store.migrate import current_revision, head_revision, upgrade
from control_plane.store.models import Base


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database that has never been migrated."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


def test_the_first_revision_is_0001_initial() -> None:
    assert head_revision() is not None
    assert current_revision("sqlite://") is None


def test_upgrade_from_empty_creates_every_table_of_the_models(empty_url: str) -> None:
    upgrade(empty_url)
    engine = make_engine(empty_url)
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert set(Base.metadata.tables) <= tables
    assert current_revision(empty_url) == head_revision()


def test_autogenerate_finds_no_difference_between_models_and_migrations(empty_url: str) -> None:
    upgrade(empty_url)
    engine = make_engine(empty_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            differences = compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()
    assert differences == []


def test_db_upgrade_command_migrates_and_is_idempotent(
    empty_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["db", "upgrade", "--db", empty_url]) == 0
    assert "upgraded" in capsys.readouterr().err
    assert main(["db", "upgrade", "--db", empty_url]) == 0
    assert "up to date" in capsys.readouterr().err


def test_db_upgrade_reports_an_unreachable_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'missing-dir' / 'x.db'}"
    assert main(["db", "upgrade", "--db", url]) == 1
    assert "cannot upgrade" in capsys.readouterr().err
