"""Node inventory: the rollout candidate each node serves, or refused and why.

Revision ID: 0006_node_candidates
Revises: 0005_node_targets
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_node_candidates"
down_revision: str | None = "0005_node_targets"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("nodes") as batch:
        batch.add_column(sa.Column("candidate_version", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("candidate_hash", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("candidate_error", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("nodes") as batch:
        batch.drop_column("candidate_error")
        batch.drop_column("candidate_hash")
        batch.drop_column("candidate_version")
