"""Reading incidents: one incident, filtered lists, the agents' queue, and timelines."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, and_, or_, select, tuple_

from server.errors import IncidentNotFound
from server.models import Incident, IncidentSummary, Page, Severity, Status, TimelineEvent, parse_incident_id
from server.store.rows import AnyRow, decode_cursor, encode_cursor, public_id, to_event, to_incident, to_summary
from server.store.schema import incidents, timeline

MAX_PAGE = 200

_SUMMARY_COLUMNS = [
    incidents.c.pk,
    incidents.c.title,
    incidents.c.service,
    incidents.c.severity,
    incidents.c.status,
    incidents.c.category,
    incidents.c.repo,
    incidents.c.occurrences,
    incidents.c.attempts,
    incidents.c.first_seen,
    incidents.c.last_seen,
    incidents.c.claim_holder,
    incidents.c.claim_expires_at,
    incidents.c.created_at,
]


def incident_row(connection: Connection, incident_id: str, *, for_update: bool = False) -> AnyRow:
    """The row of a public id; IncidentNotFound when there is none (or the date part is wrong)."""
    parsed = parse_incident_id(incident_id)
    if parsed is None:
        raise IncidentNotFound(incident_id)
    day, pk = parsed
    query = select(incidents).where(incidents.c.pk == pk)
    if for_update and connection.dialect.name == "postgresql":
        query = query.with_for_update()
    row = connection.execute(query).first()
    if row is None or f"{row.created_at:%Y%m%d}" != day:
        raise IncidentNotFound(incident_id)
    return row


def get_incident(connection: Connection, incident_id: str) -> Incident:
    return to_incident(incident_row(connection, incident_id))


def list_incidents(
    connection: Connection,
    *,
    status: list[Status] | None = None,
    severity: list[Severity] | None = None,
    service: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[IncidentSummary]:
    """Newest first; filters combine with AND, values within one filter with OR."""
    limit = max(1, min(limit, MAX_PAGE))
    query = select(*_SUMMARY_COLUMNS)
    if status:
        query = query.where(incidents.c.status.in_([s.value for s in status]))
    if severity:
        query = query.where(incidents.c.severity.in_([s.value for s in severity]))
    if service:
        query = query.where(incidents.c.service == service)
    if cursor:
        (after_pk,) = decode_cursor(cursor, (int,))
        query = query.where(incidents.c.pk < after_pk)
    rows = connection.execute(query.order_by(incidents.c.pk.desc()).limit(limit + 1)).all()
    items = [to_summary(row) for row in rows[:limit]]
    next_cursor = encode_cursor([rows[limit - 1].pk]) if len(rows) > limit else None
    return Page[IncidentSummary](items=items, next_cursor=next_cursor)


def pending(
    connection: Connection,
    *,
    now: datetime,
    severity: Severity | None = None,
    service: str | None = None,
    cursor: str | None = None,
    limit: int = 10,
) -> Page[IncidentSummary]:
    """The agents' queue: claimable incidents, most severe then oldest first.

    One ordered range scan of ``ix_incidents_queue`` (or its per-service twin), so the cost does
    not grow with the number of incidents stored.
    """
    limit = max(1, min(limit, MAX_PAGE))
    query = select(*_SUMMARY_COLUMNS, incidents.c.queue_rank).where(incidents.c.queue_rank.is_not(None))
    if severity is not None:
        query = query.where(incidents.c.queue_rank == 5 - severity.rank)
    if service is not None:
        query = query.where(incidents.c.service == service)
    if cursor:
        rank, first_seen, pk = decode_cursor(cursor, (int, datetime, int))
        key = tuple_(incidents.c.queue_rank, incidents.c.first_seen, incidents.c.pk)
        query = query.where(key > tuple_(rank, first_seen, pk))
    # Incidents waiting out a retry backoff stay in the index but are not offered yet.
    query = query.where(or_(incidents.c.not_before.is_(None), incidents.c.not_before <= now))
    query = query.order_by(incidents.c.queue_rank, incidents.c.first_seen, incidents.c.pk).limit(limit + 1)
    rows = connection.execute(query).all()
    items = [to_summary(row) for row in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = encode_cursor([last.queue_rank, last.first_seen, last.pk])
    return Page[IncidentSummary](items=items, next_cursor=next_cursor)


def timeline_of(
    connection: Connection, incident_id: str, *, after: int | None = None, limit: int = 500
) -> list[TimelineEvent]:
    row = incident_row(connection, incident_id)
    query = select(timeline).where(timeline.c.incident_pk == row.pk)
    if after is not None:
        query = query.where(timeline.c.id > after)
    rows = connection.execute(query.order_by(timeline.c.id).limit(max(1, min(limit, 5000)))).all()
    ident = public_id(row)
    return [to_event(event, ident) for event in rows]


def expired_claims(connection: Connection, now: datetime) -> list[AnyRow]:
    """Claimed (or fixing) incidents whose lease ran out."""
    query = select(incidents.c.pk, incidents.c.created_at, incidents.c.status).where(
        and_(
            incidents.c.claim_expires_at.is_not(None),
            incidents.c.claim_expires_at <= now,
            incidents.c.status.in_([Status.claimed.value, Status.fixing.value]),
        )
    )
    return list(connection.execute(query).all())


def count_by_status(connection: Connection) -> dict[str, int]:
    from sqlalchemy import func

    rows = connection.execute(select(incidents.c.status, func.count()).group_by(incidents.c.status)).all()
    return {row[0]: row[1] for row in rows}
