"""Schema migrations: `fleetgate db upgrade --db URL`, and the same step at server start."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.exc import SQLAlchemyError

from .db import make_engine, store_url

# Inside an installed wheel (setup.py copies them there), else at the top of the checkout.
_PACKAGED = Path(__file__).resolve().parent / "migrations"
MIGRATIONS_DIR = (
    _PACKAGED if _PACKAGED.is_dir() else Path(__file__).resolve().parents[2] / "migrations"
)


def alembic_config(url: str) -> Config:
    config = Config(str(MIGRATIONS_DIR / "alembic.ini"))
    if MIGRATIONS_DIR == _PACKAGED:
        # alembic.ini puts the checkout on sys.path; installed, the package already is.
        config.set_main_option("prepend_sys_path", "")
    # Handed over as an attribute, not an ini option: a password's '%' would be
    # taken for ConfigParser interpolation.
    config.attributes["url"] = store_url(url).render_as_string(hide_password=False)
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Apply every pending migration up to `revision`."""
    command.upgrade(alembic_config(url), revision)


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def current_revision(url: str) -> str | None:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def run(args: argparse.Namespace) -> int:
    """`fleetgate db upgrade`: bring the store's schema to the latest revision."""
    try:
        before = current_revision(args.db)
        upgrade(args.db)
        after = current_revision(args.db)
    except (SQLAlchemyError, OSError) as exc:
        print(f"fleetgate: cannot upgrade {_shown(args.db)}: {exc}", file=sys.stderr)
        return 1
    if before == after:
        print(f"fleetgate: {_shown(args.db)} is up to date ({after})", file=sys.stderr)
    else:
        print(
            f"fleetgate: upgraded {_shown(args.db)} from {before or 'empty'} to {after}",
            file=sys.stderr,
        )
    return 0


def _shown(url: str) -> str:
    return store_url(url).render_as_string(hide_password=True)
