"""The full-text index of incidents, for similar past incidents (SQLite FTS5, PostgreSQL tsvector).

Built here for every incident already stored, from its row and its first fix's root cause and
pull request title; kept current afterwards in the same transactions as the incident's writes.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import select, text

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from server.similar import matches as similar
    from server.store.schema import incidents

    connection = op.get_bind()
    if connection.dialect.name == "sqlite":
        # porter stems English ("exhausted", "exhaustion" -> "exhaust"), as PostgreSQL's english config does.
        op.execute("CREATE VIRTUAL TABLE incident_search USING fts5(title, error, body, tokenize = 'porter unicode61')")
    else:
        op.execute(
            "CREATE TABLE incident_search (incident_pk BIGINT PRIMARY KEY REFERENCES incidents (pk) "
            "ON DELETE CASCADE, document TSVECTOR NOT NULL)"
        )
        op.execute("CREATE INDEX ix_incident_search_document ON incident_search USING GIN (document)")
    for (pk,) in connection.execute(select(incidents.c.pk).where(incidents.c.status != "received")):
        similar.reindex(connection, pk)


def downgrade() -> None:
    op.execute(text("DROP TABLE incident_search"))
