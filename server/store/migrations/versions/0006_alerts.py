"""Monitor intake: alerts, deliveries, and when the monitor said an incident resolved.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from server.store.schema import BigId, UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(sa.Column("source_resolved_at", UTCDateTime, nullable=True))
    op.create_table(
        "alerts",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("incident_pk", BigId, nullable=True),
        sa.Column("source_name", sa.String(100), nullable=False),
        sa.Column("identity", sa.String(300), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("received_at", UTCDateTime, nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_alerts"),
        sa.ForeignKeyConstraint(
            ["incident_pk"], ["incidents.pk"], name="fk_alerts_incident_pk_incidents", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_alerts_incident", "alerts", ["incident_pk", "id"])
    op.create_table(
        "alert_deliveries",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("source_name", sa.String(100), nullable=False),
        sa.Column("delivery_id", sa.String(300), nullable=False),
        sa.Column("response", sa.JSON, nullable=False),
        sa.Column("received_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_alert_deliveries"),
        sa.UniqueConstraint("source_name", "delivery_id", name="uq_alert_deliveries_source_name"),
    )


def downgrade() -> None:
    op.drop_table("alert_deliveries")
    op.drop_table("alerts")
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("source_resolved_at")
