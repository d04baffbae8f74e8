"""The table of agent runs: one row per headless agent process devops-healer started (or queued) for an incident."""

from sqlalchemy import JSON, Boolean, Column, Float, ForeignKey, Index, Integer, String, Table, Text

from server.store.schema import BigId, UTCDateTime, metadata

agent_runs = Table(
    "agent_runs",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("incident_pk", BigId, ForeignKey("incidents.pk", ondelete="CASCADE"), nullable=False),
    Column("agent", String(100), nullable=False),
    Column("kind", String(16), nullable=False),  # first | follow_up
    Column("trigger", String(200), nullable=False),  # auto | api | dashboard:NAME | cli | review
    Column("status", String(16), nullable=False),  # queued | running | fixed | reported | ... (server.agents.outcomes)
    # SHA-256 of the run token; the token itself is never stored. Unique so a lookup is one index probe.
    Column("token_hash", String(64), nullable=True, unique=True),
    Column("held", String(500), nullable=True),  # why a queued run waits (budget), as last told on the timeline
    Column("cancel_requested", Boolean, nullable=False, default=False),
    Column("cancelled_by", String(200), nullable=True),
    Column("note", Text, nullable=True),
    Column("exit_code", Integer, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("started_at", UTCDateTime, nullable=True),
    Column("heartbeat_at", UTCDateTime, nullable=True),
    Column("ended_at", UTCDateTime, nullable=True),
    Column("duration_seconds", Float, nullable=True),
    Column("input_tokens", BigId, nullable=True),
    Column("output_tokens", BigId, nullable=True),
    Column("cost_usd", Float, nullable=True),
    Column("usage", JSON, nullable=True),
    Column("output_bytes", BigId, nullable=True),
    Column("transcript", Text, nullable=True),
    Index("ix_agent_runs_incident", "incident_pk", "id"),
    Index("ix_agent_runs_status", "status", "id"),
    Index("ix_agent_runs_started", "started_at"),
)
