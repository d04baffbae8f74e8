"""Tables of triage and the humans: verdicts, approvals, fix attempts, and the notification outbox."""

from sqlalchemy import JSON, Boolean, Column, Float, ForeignKey, Index, Integer, String, Table, Text, UniqueConstraint

from server.store.schema import BigId, UTCDateTime, metadata

verdicts = Table(
    "verdicts",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("incident_pk", BigId, ForeignKey("incidents.pk", ondelete="CASCADE"), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("classifier", String(100), nullable=False),
    Column("category", String(32), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("summary", Text, nullable=False),
    Column("suggested_fix", Text, nullable=True),
    Column("confidence", Float, nullable=False),
    Column("reason", JSON, nullable=False),
    Column("routing", JSON, nullable=False),
    Index("ix_verdicts_incident", "incident_pk", "id"),
)

approvals = Table(
    "approvals",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("incident_pk", BigId, ForeignKey("incidents.pk", ondelete="CASCADE"), nullable=False),
    Column("kind", String(16), nullable=False),  # incident | fix
    Column("subject", String(100), nullable=False),  # what exactly is approved (a diff hash, ...)
    Column("requested_by", String(200), nullable=False),
    Column("approvers", JSON, nullable=False),
    Column("reason", Text, nullable=False),
    Column("payload", JSON, nullable=True),  # the held change, for kind = fix
    Column("requested_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("decision", String(16), nullable=True),  # approved | denied | expired | stale
    Column("decided_by", String(200), nullable=True),
    Column("decision_reason", Text, nullable=True),
    Column("decided_at", UTCDateTime, nullable=True),
    Index("ix_approvals_incident", "incident_pk", "id"),
    Index("ix_approvals_open", "decision", "expires_at"),
)

fix_attempts = Table(
    "fix_attempts",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("incident_pk", BigId, ForeignKey("incidents.pk", ondelete="CASCADE"), nullable=False),
    Column("number", Integer, nullable=False),
    Column("agent", String(200), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("outcome", String(32), nullable=False),
    Column("permanent", Boolean, nullable=False),
    Column("error", Text, nullable=True),
    Index("ix_fix_attempts_incident", "incident_pk", "id"),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("event_id", String(100), nullable=False),
    Column("incident_pk", BigId, ForeignKey("incidents.pk", ondelete="CASCADE"), nullable=True),
    Column("kind", String(32), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expanded", Boolean, nullable=False),  # channel rows made by the sender
    UniqueConstraint("event_id", name="uq_outbox_event_id"),
    Index("ix_outbox_expanded", "expanded", "id"),
)

outbox_deliveries = Table(
    "outbox_deliveries",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("outbox_id", BigId, ForeignKey("outbox.id", ondelete="CASCADE"), nullable=False),
    Column("channel", String(100), nullable=False),
    Column("message_id", String(120), nullable=False),  # the same webhook-id on every retry
    Column("state", String(16), nullable=False),  # pending | delivered | folded | failed
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("last_error", Text, nullable=True),
    Column("delivered_at", UTCDateTime, nullable=True),
    UniqueConstraint("outbox_id", "channel", name="uq_outbox_deliveries_outbox_id"),
    Index("ix_outbox_deliveries_due", "state", "next_attempt_at"),
)
