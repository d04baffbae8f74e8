"""Remember a merged fix's merge commit and when a deployment containing it reached production, so
verification can start at the deploy, and the revert pull request opened on a regression.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from server.store.schema import UTCDateTime

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(sa.Column("merge_commit", sa.String(64), nullable=True))
        batch.add_column(sa.Column("deployed_at", UTCDateTime, nullable=True))
        batch.add_column(sa.Column("revert_pr_url", sa.String(500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("revert_pr_url")
        batch.drop_column("deployed_at")
        batch.drop_column("merge_commit")
