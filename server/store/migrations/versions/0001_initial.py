"""Incidents, their timeline, and idempotency keys.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from server.store.schema import BigId, UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "incidents",
        sa.Column("pk", BigId, primary_key=True, autoincrement=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("open_fingerprint", sa.String(64), nullable=True),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("service", sa.String(200), nullable=False),
        sa.Column("title", sa.String(500), nullable=False),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("log_excerpt", sa.Text, nullable=True),
        sa.Column("stack_frames", sa.JSON, nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("category", sa.String(32), nullable=True),
        sa.Column("confidence", sa.Float, nullable=True),
        sa.Column("summary", sa.Text, nullable=True),
        sa.Column("suggested_fix", sa.Text, nullable=True),
        sa.Column("affected_files", sa.JSON, nullable=False),
        sa.Column("labels", sa.JSON, nullable=False),
        sa.Column("repo", sa.String(200), nullable=True),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("queue_rank", sa.Integer, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("occurrences", sa.Integer, nullable=False),
        sa.Column("first_seen", UTCDateTime, nullable=False),
        sa.Column("last_seen", UTCDateTime, nullable=False),
        sa.Column("claim_holder", sa.String(200), nullable=True),
        sa.Column("claim_expires_at", UTCDateTime, nullable=True),
        sa.Column("not_before", UTCDateTime, nullable=True),
        sa.Column("branch", sa.String(200), nullable=True),
        sa.Column("pr_url", sa.String(500), nullable=True),
        sa.Column("pr_number", sa.Integer, nullable=True),
        sa.Column("review_state", sa.String(40), nullable=True),
        sa.Column("trace_id", sa.String(100), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("pk", name="pk_incidents"),
        sa.UniqueConstraint("open_fingerprint", name="uq_incidents_open_fingerprint"),
    )
    op.create_index("ix_incidents_fingerprint", "incidents", ["fingerprint"])
    op.create_index("ix_incidents_status_pk", "incidents", ["status", "pk"])
    op.create_index("ix_incidents_queue", "incidents", ["queue_rank", "first_seen", "pk"])
    op.create_index("ix_incidents_service_queue", "incidents", ["service", "queue_rank", "first_seen", "pk"])
    op.create_index("ix_incidents_claim_expiry", "incidents", ["claim_expires_at"])
    op.create_index("ix_incidents_severity_pk", "incidents", ["severity", "pk"])

    op.create_table(
        "timeline",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("incident_pk", BigId, nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("event", sa.String(64), nullable=False),
        sa.Column("detail", sa.JSON, nullable=False),
        sa.Column("trace_id", sa.String(100), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_timeline"),
        sa.ForeignKeyConstraint(
            ["incident_pk"], ["incidents.pk"], name="fk_timeline_incident_pk_incidents", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_timeline_incident_id", "timeline", ["incident_pk", "id"])

    op.create_table(
        "idempotency_keys",
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("response", sa.JSON, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_idempotency_keys"),
    )


def downgrade() -> None:
    op.drop_table("idempotency_keys")
    op.drop_index("ix_timeline_incident_id", table_name="timeline")
    op.drop_table("timeline")
    op.drop_table("incidents")
