"""Drop the index on incidents.fingerprint: no query reads by it.

Open incidents are found by open_fingerprint, whose unique index stays. The fingerprint index
cost every new incident an insert at a random place in a second B-tree, which on a busy intake
dirtied a page per incident in every commit.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_incidents_fingerprint", table_name="incidents")


def downgrade() -> None:
    op.create_index("ix_incidents_fingerprint", "incidents", ["fingerprint"])
