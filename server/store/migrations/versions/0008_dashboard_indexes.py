"""Indexes for the dashboard: the incident list by service and by last report, loop times by event.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_incidents_service_pk", "incidents", ["service", "pk"])
    op.create_index("ix_incidents_last_seen_pk", "incidents", ["last_seen", "pk"])
    op.create_index("ix_timeline_event_at", "timeline", ["event", "at"])


def downgrade() -> None:
    op.drop_index("ix_timeline_event_at", table_name="timeline")
    op.drop_index("ix_incidents_last_seen_pk", table_name="incidents")
    op.drop_index("ix_incidents_service_pk", table_name="incidents")
