"""Reading and writing the dashboard's sessions: open one at sign-in, find it per request, end it at sign-out."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from pydantic import BaseModel
from sqlalchemy import delete, insert, select

from server.store import Store
from server.store.sessions_schema import dashboard_sessions


class StoredSession(BaseModel):
    name: str
    verified_by: str
    stamp: str | None
    expires_at: datetime


def _key(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def open_session(
    store: Store, session_id: str, *, name: str, verified_by: str, stamp: str | None, lifetime: timedelta
) -> None:
    """Keep a new session; expired ones are swept on the way, so the table holds live sessions only."""
    now = store.clock.now()
    with store.write() as connection:
        connection.execute(delete(dashboard_sessions).where(dashboard_sessions.c.expires_at <= now))
        connection.execute(
            insert(dashboard_sessions).values(
                id_sha256=_key(session_id),
                name=name,
                verified_by=verified_by,
                stamp=stamp,
                created_at=now,
                expires_at=now + lifetime,
            )
        )


def find_session(store: Store, session_id: str) -> StoredSession | None:
    """The live session with this id, or None when it ended, expired, or never was."""
    with store.read() as connection:
        row = connection.execute(
            select(dashboard_sessions).where(dashboard_sessions.c.id_sha256 == _key(session_id))
        ).first()
    if row is None or row.expires_at <= store.clock.now():
        return None
    return StoredSession(name=row.name, verified_by=row.verified_by, stamp=row.stamp, expires_at=row.expires_at)


def end_session(store: Store, session_id: str) -> None:
    with store.write() as connection:
        connection.execute(delete(dashboard_sessions).where(dashboard_sessions.c.id_sha256 == _key(session_id)))


def end_sessions_of(store: Store, name: str) -> int:
    """End every session signed in under ``name``; returns how many."""
    with store.write() as connection:
        return int(connection.execute(delete(dashboard_sessions).where(dashboard_sessions.c.name == name)).rowcount)
