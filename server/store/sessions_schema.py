"""The dashboard's signed-in sessions: one row each, so signing out ends a session everywhere at once."""

from sqlalchemy import Column, Index, String, Table

from server.store.schema import UTCDateTime, metadata

dashboard_sessions = Table(
    "dashboard_sessions",
    metadata,
    # SHA-256 of the session id the cookie carries: a copy of this table opens no session.
    Column("id_sha256", String(64), primary_key=True),
    Column("name", String(64), nullable=False),
    # How the name was proven: dashboard_session (a person's password or token), api_token, or none.
    Column("verified_by", String(32), nullable=False),
    # A digest of the person's credentials at sign-in: changed credentials end the session.
    Column("stamp", String(64), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Index("ix_dashboard_sessions_name", "name"),
    Index("ix_dashboard_sessions_expires_at", "expires_at"),
)
