"""Tables of the monitor intake: every alert received, and every delivery (for redelivery)."""

from sqlalchemy import JSON, Column, ForeignKey, Index, String, Table, Text, UniqueConstraint

from server.store.schema import BigId, UTCDateTime, metadata

alerts = Table(
    "alerts",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("incident_pk", BigId, ForeignKey("incidents.pk", ondelete="CASCADE"), nullable=True),
    Column("source_name", String(100), nullable=False),
    Column("identity", String(300), nullable=False),
    Column("status", String(16), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("reason", Text, nullable=True),
    Column("received_at", UTCDateTime, nullable=False),
    Column("payload", JSON, nullable=False),
    Index("ix_alerts_incident", "incident_pk", "id"),
)

alert_deliveries = Table(
    "alert_deliveries",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("source_name", String(100), nullable=False),
    Column("delivery_id", String(300), nullable=False),
    Column("response", JSON, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    UniqueConstraint("source_name", "delivery_id", name="uq_alert_deliveries_source_name"),
)
