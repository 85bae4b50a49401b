"""The initial store: config entities, their targets and tags, releases, audit, admin token.

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001_initial"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TAGGED = {
    "service_tags": ("service_id", "services"),
    "route_tags": ("route_id", "routes"),
    "tier_tags": ("tier_id", "tiers"),
    "tenant_tags": ("tenant_id", "tenants"),
    "consumer_tags": ("consumer_id", "consumers"),
}


def timestamp(name: str) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False)


def entity_table(table: str, *references: sa.Column, fks: Sequence[sa.ForeignKeyConstraint] = ()) -> None:
    op.create_table(
        table,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        *references,
        sa.Column("spec", sa.JSON(), nullable=False),
        timestamp("created_at"),
        timestamp("updated_at"),
        *fks,
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
        sa.UniqueConstraint("name", name=op.f(f"uq_{table}_name")),
    )


def reference(table: str, column: str, parent: str, *, nullable: bool = False) -> tuple[sa.Column, sa.ForeignKeyConstraint]:
    return (
        sa.Column(column, sa.Integer(), nullable=nullable),
        sa.ForeignKeyConstraint(
            [column], [f"{parent}.id"], name=op.f(f"fk_{table}_{column}_{parent}"), ondelete="RESTRICT"
        ),
    )


def upgrade() -> None:
    op.create_table(
        "admin_tokens",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        timestamp("created_at"),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_admin_tokens")),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        timestamp("at"),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.Column("request_id", sa.String(length=128), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index("ix_audit_log_kind_name", "audit_log", ["kind", "name"], unique=False)
    op.create_table(
        "releases",
        sa.Column("version", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("snapshot", sa.LargeBinary(), nullable=False),
        timestamp("created_at"),
        sa.Column("author", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_releases")),
    )

    entity_table("services")
    entity_table("tiers")
    column, fk = reference("routes", "service_id", "services")
    entity_table("routes", column, fks=[fk])
    column, fk = reference("tenants", "tier_id", "tiers")
    entity_table("tenants", column, fks=[fk])
    column, fk = reference("consumers", "tenant_id", "tenants", nullable=True)
    entity_table("consumers", column, fks=[fk])
    for table, column_name in (
        ("routes", "service_id"),
        ("tenants", "tier_id"),
        ("consumers", "tenant_id"),
    ):
        op.create_index(op.f(f"ix_{table}_{column_name}"), table, [column_name], unique=False)

    op.create_table(
        "targets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("service_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(length=300), nullable=False),
        sa.Column("weight", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["service_id"], ["services.id"], name=op.f("fk_targets_service_id_services"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_targets")),
        sa.UniqueConstraint("service_id", "address", name=op.f("uq_targets_service_id_address")),
    )
    op.create_index(op.f("ix_targets_service_id"), "targets", ["service_id"], unique=False)

    for table, (column_name, parent) in TAGGED.items():
        op.create_table(
            table,
            sa.Column(column_name, sa.Integer(), nullable=False),
            sa.Column("tag", sa.String(length=64), nullable=False),
            sa.ForeignKeyConstraint(
                [column_name], [f"{parent}.id"], name=op.f(f"fk_{table}_{column_name}_{parent}"), ondelete="CASCADE"
            ),
            sa.PrimaryKeyConstraint(column_name, "tag", name=op.f(f"pk_{table}")),
        )
        op.create_index(op.f(f"ix_{table}_tag"), table, ["tag"], unique=False)


def downgrade() -> None:
    for table in reversed(TAGGED):
        op.drop_table(table)
    op.drop_table("targets")
    for table in ("consumers", "tenants", "routes", "tiers", "services"):
        op.drop_table(table)
    op.drop_table("releases")
    op.drop_index("ix_audit_log_kind_name", table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_table("admin_tokens")
