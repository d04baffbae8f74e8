"""The local forge's pull requests and comments.

Revision ID: 0004
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from server.store.schema import BigId, UTCDateTime

revision = "0004"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "local_pull_requests",
        sa.Column("number", BigId, primary_key=True, autoincrement=True),
        sa.Column("repo", sa.String(200), nullable=False),
        sa.Column("incident_id", sa.String(40), nullable=True),
        sa.Column("title", sa.String(500), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("draft", sa.Boolean, nullable=False),
        sa.Column("head", sa.String(200), nullable=False),
        sa.Column("base", sa.String(200), nullable=False),
        sa.Column("head_sha", sa.String(64), nullable=True),
        sa.Column("merge_commit", sa.String(64), nullable=True),
        sa.Column("labels", sa.JSON, nullable=False),
        sa.Column("extra", sa.JSON, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("number", name="pk_local_pull_requests"),
    )
    op.create_index("ix_local_pull_requests_repo_state", "local_pull_requests", ["repo", "state"])
    op.create_index("ix_local_pull_requests_incident", "local_pull_requests", ["incident_id"])
    op.create_table(
        "local_pr_comments",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("number", BigId, nullable=False),
        sa.Column("author", sa.String(200), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("extra", sa.JSON, nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_local_pr_comments"),
        sa.ForeignKeyConstraint(
            ["number"],
            ["local_pull_requests.number"],
            name="fk_local_pr_comments_number_local_pull_requests",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_local_pr_comments_number", "local_pr_comments", ["number", "id"])


def downgrade() -> None:
    op.drop_table("local_pr_comments")
    op.drop_table("local_pull_requests")
