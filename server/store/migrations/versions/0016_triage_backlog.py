"""Index triage's backlog: received incidents by severity then age, and nothing else.

Triage takes the worst received incidents first; a partial index holds only the received rows,
so reading the next batch stays a short range scan however many incidents are stored, and the
index costs intake one entry per new incident, removed when triage moves it.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    where = sa.text("status = 'received'")
    op.create_index(
        "ix_incidents_received",
        "incidents",
        ["severity", "pk"],
        sqlite_where=where,
        postgresql_where=where,
    )


def downgrade() -> None:
    op.drop_index("ix_incidents_received", table_name="incidents")
