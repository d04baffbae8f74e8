"""Each incident's similar-incident candidates, found once when it is indexed at triage, so reading
them costs a primary-key lookup instead of a full-text query.

Incidents indexed before this revision have no row; their matches are found at read time, as
before.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from server.store.schema import BigId

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "incident_similar",
        sa.Column("incident_pk", BigId, nullable=False),
        sa.Column("candidate_pk", BigId, nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["incident_pk"], ["incidents.pk"], name="fk_incident_similar_incident_pk_incidents", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["candidate_pk"], ["incidents.pk"], name="fk_incident_similar_candidate_pk_incidents", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("incident_pk", "candidate_pk", name="pk_incident_similar"),
    )


def downgrade() -> None:
    op.drop_table("incident_similar")
