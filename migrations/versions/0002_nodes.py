"""The node inventory: one row per data-plane node, written by the config-sync service.

Revision ID: 0002_nodes
Revises: 0001_initial
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_nodes"
down_revision: str | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "nodes",
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("address", sa.String(length=300), nullable=False),
        sa.Column("peer", sa.String(length=300), nullable=False),
        sa.Column("software_version", sa.String(length=64), nullable=False),
        sa.Column("schema_version", sa.Integer(), nullable=False),
        sa.Column("capabilities", sa.JSON(), nullable=False),
        sa.Column("applied_version", sa.BigInteger(), nullable=True),
        sa.Column("applied_hash", sa.String(length=64), nullable=True),
        sa.Column("apply_seconds", sa.Double(), nullable=True),
        sa.Column("rejected_version", sa.BigInteger(), nullable=True),
        sa.Column("rejected_hash", sa.String(length=64), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("request_rate", sa.Double(), nullable=True),
        sa.Column("error_rate", sa.Double(), nullable=True),
        sa.Column("p50_ms", sa.Double(), nullable=True),
        sa.Column("p99_ms", sa.Double(), nullable=True),
        sa.Column("open_connections", sa.BigInteger(), nullable=True),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_nodes")),
    )
    op.create_index(op.f("ix_nodes_last_seen"), "nodes", ["last_seen"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_nodes_last_seen"), table_name="nodes")
    op.drop_table("nodes")
