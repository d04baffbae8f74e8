"""Triage and the humans: verdicts, approvals, fix attempts, the notification outbox.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from server.store.schema import BigId, UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _incident_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["incident_pk"], ["incidents.pk"], name=f"fk_{table}_incident_pk_incidents", ondelete="CASCADE"
    )


def upgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(sa.Column("automation", sa.String(32), nullable=True))
    op.create_table(
        "verdicts",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("incident_pk", BigId, nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("classifier", sa.String(100), nullable=False),
        sa.Column("category", sa.String(32), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("suggested_fix", sa.Text, nullable=True),
        sa.Column("confidence", sa.Float, nullable=False),
        sa.Column("reason", sa.JSON, nullable=False),
        sa.Column("routing", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_verdicts"),
        _incident_fk("verdicts"),
    )
    op.create_index("ix_verdicts_incident", "verdicts", ["incident_pk", "id"])
    op.create_table(
        "approvals",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("incident_pk", BigId, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("subject", sa.String(100), nullable=False),
        sa.Column("requested_by", sa.String(200), nullable=False),
        sa.Column("approvers", sa.JSON, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("payload", sa.JSON, nullable=True),
        sa.Column("requested_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
        sa.Column("decision", sa.String(16), nullable=True),
        sa.Column("decided_by", sa.String(200), nullable=True),
        sa.Column("decision_reason", sa.Text, nullable=True),
        sa.Column("decided_at", UTCDateTime, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_approvals"),
        _incident_fk("approvals"),
    )
    op.create_index("ix_approvals_incident", "approvals", ["incident_pk", "id"])
    op.create_index("ix_approvals_open", "approvals", ["decision", "expires_at"])
    op.create_table(
        "fix_attempts",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("incident_pk", BigId, nullable=False),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("agent", sa.String(200), nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("permanent", sa.Boolean, nullable=False),
        sa.Column("error", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_fix_attempts"),
        _incident_fk("fix_attempts"),
    )
    op.create_index("ix_fix_attempts_incident", "fix_attempts", ["incident_pk", "id"])
    op.create_table(
        "outbox",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(100), nullable=False),
        sa.Column("incident_pk", BigId, nullable=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("expanded", sa.Boolean, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
        sa.UniqueConstraint("event_id", name="uq_outbox_event_id"),
        _incident_fk("outbox"),
    )
    op.create_index("ix_outbox_expanded", "outbox", ["expanded", "id"])
    op.create_table(
        "outbox_deliveries",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("outbox_id", BigId, nullable=False),
        sa.Column("channel", sa.String(100), nullable=False),
        sa.Column("message_id", sa.String(120), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", UTCDateTime, nullable=False),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("delivered_at", UTCDateTime, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_outbox_deliveries"),
        sa.UniqueConstraint("outbox_id", "channel", name="uq_outbox_deliveries_outbox_id"),
        sa.ForeignKeyConstraint(
            ["outbox_id"], ["outbox.id"], name="fk_outbox_deliveries_outbox_id_outbox", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_outbox_deliveries_due", "outbox_deliveries", ["state", "next_attempt_at"])


def downgrade() -> None:
    for table in ("outbox_deliveries", "outbox", "fix_attempts", "approvals", "verdicts"):
        op.drop_table(table)
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("automation")
