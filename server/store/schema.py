"""The database tables (SQLAlchemy Core), shared by the store and the Alembic migrations."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    text,
)

# BIGINT on PostgreSQL, INTEGER (the rowid alias that autoincrements) on SQLite.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps stored as naive UTC on every backend and handed back timezone-aware."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("timestamps must be timezone-aware")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        moment: datetime = value
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

incidents = Table(
    "incidents",
    metadata,
    Column("pk", BigId, primary_key=True, autoincrement=True),
    # Not indexed: nothing reads by it (open incidents are found by open_fingerprint).
    Column("fingerprint", String(64), nullable=False),
    # Equal to fingerprint while the incident is open, NULL once closed: the unique index makes
    # "one open incident per fingerprint" a database guarantee, even across replicas.
    Column("open_fingerprint", String(64), nullable=True, unique=True),
    Column("source", String(100), nullable=False),
    Column("service", String(200), nullable=False),
    Column("title", String(500), nullable=False),
    Column("error", Text, nullable=True),
    Column("log_excerpt", Text, nullable=True),
    Column("stack_frames", JSON, nullable=False),
    Column("severity", String(16), nullable=False),
    Column("category", String(32), nullable=True),
    Column("confidence", Float, nullable=True),
    Column("summary", Text, nullable=True),
    Column("suggested_fix", Text, nullable=True),
    Column("affected_files", JSON, nullable=False),
    Column("labels", JSON, nullable=False),
    Column("repo", String(200), nullable=True),
    Column("status", String(32), nullable=False),
    # Position in the agents' queue: 5 - severity rank while the incident is claimable, NULL
    # otherwise. With first_seen and pk it is one index, so "most severe, oldest first" is a
    # range scan however many incidents are stored.
    Column("queue_rank", Integer, nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("occurrences", Integer, nullable=False, default=1),
    Column("first_seen", UTCDateTime, nullable=False),
    Column("last_seen", UTCDateTime, nullable=False),
    Column("claim_holder", String(200), nullable=True),
    Column("claim_expires_at", UTCDateTime, nullable=True),
    Column("fix_owner", String(200), nullable=True),  # host|pid|start of the process running the fix
    Column("not_before", UTCDateTime, nullable=True),
    Column("branch", String(200), nullable=True),
    Column("pr_url", String(500), nullable=True),
    Column("pr_number", Integer, nullable=True),
    Column("review_state", String(40), nullable=True),
    Column("automation", String(32), nullable=True),
    Column("source_resolved_at", UTCDateTime, nullable=True),
    Column("pr_head_sha", String(64), nullable=True),
    Column("merged_at", UTCDateTime, nullable=True),
    Column("pr_closed_at", UTCDateTime, nullable=True),
    Column("merge_commit", String(64), nullable=True),  # the merged fix's commit on the default branch
    Column("deployed_at", UTCDateTime, nullable=True),  # a deployment containing merge_commit succeeded
    Column("revert_pr_url", String(500), nullable=True),  # the revert opened after a regression
    Column("trace_id", String(100), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_incidents_status_pk", "status", "pk"),
    Index("ix_incidents_queue", "queue_rank", "first_seen", "pk"),
    Index("ix_incidents_service_queue", "service", "queue_rank", "first_seen", "pk"),
    Index("ix_incidents_claim_expiry", "claim_expires_at"),
    Index("ix_incidents_severity_pk", "severity", "pk"),
    # The dashboard's list: newest first within a service, and "recently seen" (migration 0008).
    Index("ix_incidents_service_pk", "service", "pk"),
    Index("ix_incidents_last_seen_pk", "last_seen", "pk"),
    # Triage's backlog, worst first then oldest: only received rows are in it (migration 0015).
    Index(
        "ix_incidents_received",
        "severity",
        "pk",
        sqlite_where=text("status = 'received'"),
        postgresql_where=text("status = 'received'"),
    ),
)

timeline = Table(
    "timeline",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("incident_pk", BigId, ForeignKey("incidents.pk", ondelete="CASCADE"), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("event", String(64), nullable=False),
    Column("detail", JSON, nullable=False),
    Column("trace_id", String(100), nullable=True),
    Index("ix_timeline_incident_id", "incident_pk", "id"),
    # Loop times over a window: the milestone events of the last day or week (migration 0008).
    Index("ix_timeline_event_at", "event", "at"),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("key", String(255), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("response", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)


# Tables owned by other modules register on the same metadata when imported here.
from server.store import (  # noqa: E402
    alerts_schema,
    prs_schema,
    reviews_schema,
    runs_schema,
    sessions_schema,
    similar_schema,
    triage_schema,
)

OWNED_TABLES = (
    prs_schema,
    triage_schema,
    alerts_schema,
    reviews_schema,
    sessions_schema,
    runs_schema,
    similar_schema,
)
