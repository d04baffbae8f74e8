"""Tables of the review loop: GitHub webhook deliveries (durable before processing) and review findings."""

from sqlalchemy import JSON, Boolean, Column, ForeignKey, Index, Integer, String, Table, Text, UniqueConstraint

from server.store.schema import BigId, UTCDateTime, metadata

github_deliveries = Table(
    "github_deliveries",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("delivery_id", String(100), nullable=False),
    Column("event", String(64), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Column("processed_at", UTCDateTime, nullable=True),
    Column("outcome", Text, nullable=True),
    UniqueConstraint("delivery_id", name="uq_github_deliveries_delivery_id"),
    Index("ix_github_deliveries_unprocessed", "processed_at", "id"),
)

findings = Table(
    "findings",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("incident_pk", BigId, ForeignKey("incidents.pk", ondelete="CASCADE"), nullable=False),
    Column("pr_number", Integer, nullable=False),
    Column("kind", String(16), nullable=False),  # verdict | comment | check
    Column("author", String(200), nullable=False),
    Column("state", String(32), nullable=True),  # approved | changes_requested | commented | dismissed | failure ...
    Column("commit_sha", String(64), nullable=True),
    Column("file", String(1000), nullable=True),
    Column("line", Integer, nullable=True),
    Column("body", Text, nullable=False),
    Column("suggestion", Text, nullable=True),
    Column("prompt", Text, nullable=True),  # CodeRabbit's "Prompt for AI Agents"
    Column("url", String(1000), nullable=True),
    Column("external_id", String(100), nullable=True),
    Column("thread_id", String(100), nullable=True),
    Column("resolved", Boolean, nullable=False),
    Column("trusted", Boolean, nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Index("ix_findings_incident", "incident_pk", "id"),
)
