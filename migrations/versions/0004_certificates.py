"""Certificates for the HTTPS listener, with their SNI names in the spec and keys apart.

Revision ID: 0004_certificates
Revises: 0003_rollouts
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_certificates"
down_revision: str | None = "0003_rollouts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "certificates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_certificates")),
        sa.UniqueConstraint("name", name=op.f("uq_certificates_name")),
    )
    op.create_table(
        "certificate_tags",
        sa.Column("certificate_id", sa.Integer(), nullable=False),
        sa.Column("tag", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["certificate_id"],
            ["certificates.id"],
            name=op.f("fk_certificate_tags_certificate_id_certificates"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("certificate_id", "tag", name=op.f("pk_certificate_tags")),
    )
    op.create_index(op.f("ix_certificate_tags_tag"), "certificate_tags", ["tag"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_certificate_tags_tag"), table_name="certificate_tags")
    op.drop_table("certificate_tags")
    op.drop_table("certificates")
