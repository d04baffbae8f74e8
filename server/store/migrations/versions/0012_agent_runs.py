"""Agent runs: one row per headless agent process started (or queued) for an incident.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from server.store.schema import BigId, UTCDateTime

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agent_runs",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("incident_pk", BigId, nullable=False),
        sa.Column("agent", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("trigger", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=True),
        sa.Column("held", sa.String(500), nullable=True),
        sa.Column("cancel_requested", sa.Boolean, nullable=False),
        sa.Column("cancelled_by", sa.String(200), nullable=True),
        sa.Column("note", sa.Text, nullable=True),
        sa.Column("exit_code", sa.Integer, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("started_at", UTCDateTime, nullable=True),
        sa.Column("heartbeat_at", UTCDateTime, nullable=True),
        sa.Column("ended_at", UTCDateTime, nullable=True),
        sa.Column("duration_seconds", sa.Float, nullable=True),
        sa.Column("input_tokens", BigId, nullable=True),
        sa.Column("output_tokens", BigId, nullable=True),
        sa.Column("cost_usd", sa.Float, nullable=True),
        sa.Column("usage", sa.JSON, nullable=True),
        sa.Column("output_bytes", BigId, nullable=True),
        sa.Column("transcript", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_agent_runs"),
        sa.UniqueConstraint("token_hash", name="uq_agent_runs_token_hash"),
        sa.ForeignKeyConstraint(
            ["incident_pk"], ["incidents.pk"], name="fk_agent_runs_incident_pk_incidents", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_agent_runs_incident", "agent_runs", ["incident_pk", "id"])
    op.create_index("ix_agent_runs_status", "agent_runs", ["status", "id"])
    op.create_index("ix_agent_runs_started", "agent_runs", ["started_at"])


def downgrade() -> None:
    op.drop_table("agent_runs")
