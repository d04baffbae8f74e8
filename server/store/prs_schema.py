"""Tables of the local forge: pull requests and their comments (GitHub keeps its own)."""

from sqlalchemy import JSON, Boolean, Column, ForeignKey, Index, String, Table, Text

from server.store.schema import BigId, UTCDateTime, metadata

local_pull_requests = Table(
    "local_pull_requests",
    metadata,
    Column("number", BigId, primary_key=True, autoincrement=True),
    Column("repo", String(200), nullable=False),
    Column("incident_id", String(40), nullable=True),
    Column("title", String(500), nullable=False),
    Column("body", Text, nullable=False),
    Column("state", String(16), nullable=False),
    Column("draft", Boolean, nullable=False),
    Column("head", String(200), nullable=False),
    Column("base", String(200), nullable=False),
    Column("head_sha", String(64), nullable=True),
    Column("merge_commit", String(64), nullable=True),
    Column("labels", JSON, nullable=False),
    Column("extra", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_local_pull_requests_repo_state", "repo", "state"),
    Index("ix_local_pull_requests_incident", "incident_id"),
)

local_pr_comments = Table(
    "local_pr_comments",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("number", BigId, ForeignKey("local_pull_requests.number", ondelete="CASCADE"), nullable=False),
    Column("author", String(200), nullable=False),
    Column("body", Text, nullable=False),
    Column("extra", JSON, nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Index("ix_local_pr_comments_number", "number", "id"),
)
