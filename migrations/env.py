"""Alembic environment of the fleetgate store: the application's own metadata and URL.

The URL is the one the control plane uses: given by `control_plane.store.migrate`
(`--db`), else `FLEETGATE_DB`, else the default SQLite file. Connections come from the
same engine factory as the application's, so SQLite gets the same pragmas.
"""

from __future__ import annotations

import importlib
import os

from alembic import context
from sqlalchemy import Connection, text

from control_plane.settings import DEFAULT_DB
from control_plane.store.db import make_engine, store_url
from control_plane.store.models import Base

# Modules that declare tables on Base.metadata: autogenerate sees only what is imported.
MODEL_MODULES = (
    "control_plane.store.models",
    "control_plane.store.nodes",
    "control_plane.store.rollouts",
    "control_plane.store.leases",
)
# Replicas starting together on one PostgreSQL migrate one at a time (any fixed bigint).
MIGRATION_LOCK_KEY = 0x6D69677261746521  # "migrate!"

for module in MODEL_MODULES:
    importlib.import_module(module)

config = context.config
target_metadata = Base.metadata


def database_url() -> str:
    url = config.attributes.get("url") or os.environ.get("FLEETGATE_DB") or DEFAULT_DB
    return store_url(url).render_as_string(hide_password=False)


def configure(**kwargs: object) -> None:
    context.configure(
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things: batch mode rebuilds the table instead.
        render_as_batch=True,
        compare_type=True,
        **kwargs,
    )


def run_offline() -> None:
    configure(url=database_url(), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_on(connection: Connection) -> None:
    # DDL is transactional on SQLite too here: the engine issues BEGIN itself.
    configure(connection=connection, transactional_ddl=True)
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
            )
        context.run_migrations()


def run_online() -> None:
    given = config.attributes.get("connection")
    if given is not None:
        run_on(given)
        return
    engine = make_engine(database_url())
    try:
        with engine.connect() as connection:
            run_on(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
