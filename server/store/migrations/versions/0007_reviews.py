"""The review loop: GitHub deliveries, review findings, and the PR's head, merge and close times.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from server.store.schema import BigId, UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(sa.Column("pr_head_sha", sa.String(64), nullable=True))
        batch.add_column(sa.Column("merged_at", UTCDateTime, nullable=True))
        batch.add_column(sa.Column("pr_closed_at", UTCDateTime, nullable=True))
    op.create_table(
        "github_deliveries",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("delivery_id", sa.String(100), nullable=False),
        sa.Column("event", sa.String(64), nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("received_at", UTCDateTime, nullable=False),
        sa.Column("processed_at", UTCDateTime, nullable=True),
        sa.Column("outcome", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_github_deliveries"),
        sa.UniqueConstraint("delivery_id", name="uq_github_deliveries_delivery_id"),
    )
    op.create_index("ix_github_deliveries_unprocessed", "github_deliveries", ["processed_at", "id"])
    op.create_table(
        "findings",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("incident_pk", BigId, nullable=False),
        sa.Column("pr_number", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("author", sa.String(200), nullable=False),
        sa.Column("state", sa.String(32), nullable=True),
        sa.Column("commit_sha", sa.String(64), nullable=True),
        sa.Column("file", sa.String(1000), nullable=True),
        sa.Column("line", sa.Integer, nullable=True),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("suggestion", sa.Text, nullable=True),
        sa.Column("prompt", sa.Text, nullable=True),
        sa.Column("url", sa.String(1000), nullable=True),
        sa.Column("external_id", sa.String(100), nullable=True),
        sa.Column("thread_id", sa.String(100), nullable=True),
        sa.Column("resolved", sa.Boolean, nullable=False),
        sa.Column("trusted", sa.Boolean, nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_findings"),
        sa.ForeignKeyConstraint(
            ["incident_pk"], ["incidents.pk"], name="fk_findings_incident_pk_incidents", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_findings_incident", "findings", ["incident_pk", "id"])


def downgrade() -> None:
    op.drop_table("findings")
    op.drop_table("github_deliveries")
    with op.batch_alter_table("incidents") as batch:
        for column in ("pr_closed_at", "merged_at", "pr_head_sha"):
            batch.drop_column(column)
