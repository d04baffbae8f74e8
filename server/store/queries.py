"""Reading incidents: one incident, filtered lists, the agents' queue, and timelines."""

from __future__ import annotations

import itertools
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import Connection, bindparam, or_, select, tuple_

from server.errors import IncidentNotFound
from server.models import (
    Incident,
    IncidentSummary,
    Page,
    Severity,
    Status,
    TimelineEvent,
    format_incident_id_on,
    parse_incident_id,
)
from server.store.driver import RawSelect, from_db_time, json_time
from server.store.rows import AnyRow, decode_cursor, encode_cursor, public_id, to_event, to_incident, to_summary
from server.store.schema import UTCDateTime, incidents, timeline

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


_QUEUE_COLUMNS = [
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
    incidents.c.queue_rank,
]


def _pending_query(severity: bool, service: bool, cursor: bool) -> RawSelect:
    query = select(*_QUEUE_COLUMNS).where(incidents.c.queue_rank.is_not(None))
    if severity:
        query = query.where(incidents.c.queue_rank == bindparam("rank"))
    if service:
        query = query.where(incidents.c.service == bindparam("service"))
    if cursor:
        key = tuple_(incidents.c.queue_rank, incidents.c.first_seen, incidents.c.pk)
        after = tuple_(bindparam("after_rank"), bindparam("after_seen", type_=UTCDateTime), bindparam("after_pk"))
        query = query.where(key > after)
    # Incidents waiting out a retry backoff stay in the index but are not offered yet.
    query = query.where(
        or_(incidents.c.not_before.is_(None), incidents.c.not_before <= bindparam("now", type_=UTCDateTime))
    )
    query = query.order_by(incidents.c.queue_rank, incidents.c.first_seen, incidents.c.pk)
    return RawSelect(query.limit(bindparam("take")))


# Built once per filter combination and read through the driver: agents poll the queue, so its
# cost is paid on every call (see server.store.driver).
_PENDING = {flags: _pending_query(*flags) for flags in itertools.product((False, True), repeat=3)}


def pending_items(
    connection: Connection,
    *,
    now: datetime,
    severity: Severity | None = None,
    service: str | None = None,
    cursor: str | None = None,
    limit: int = 10,
) -> tuple[list[dict[str, Any]], str | None]:
    """The agents' queue: claimable incidents, most severe then oldest first, as IncidentSummary's
    fields in JSON form (timestamps as pydantic writes them) and the cursor for the next page.

    One ordered range scan of ``ix_incidents_queue`` (or its per-service twin), so the cost does
    not grow with the number of incidents stored.
    """
    limit = max(1, min(limit, MAX_PAGE))
    params: dict[str, Any] = {"now": now, "take": limit + 1}
    if severity is not None:
        params["rank"] = 5 - severity.rank
    if service is not None:
        params["service"] = service
    if cursor:
        params["after_rank"], params["after_seen"], params["after_pk"] = decode_cursor(cursor, (int, datetime, int))
    rows = _PENDING[(severity is not None, service is not None, bool(cursor))].rows(connection, params)
    items = []
    for pk, title, svc, sev, status, category, repo, occurrences, attempts, first, last, _rank in rows[:limit]:
        first_seen = json_time(first)
        assert first_seen is not None
        items.append(
            {
                # first_seen is the creation time, so it dates the public id as created_at does.
                "id": format_incident_id_on(pk, first_seen),
                "title": title,
                "service": svc,
                "severity": sev,
                "status": status,
                "category": category,
                "repo": repo,
                "occurrences": occurrences,
                "attempts": attempts,
                "first_seen": first_seen,
                "last_seen": json_time(last),
                "claim": None,  # claimable: nobody holds it
            }
        )
    next_cursor = None
    if len(rows) > limit:
        last_row = rows[limit - 1]
        next_cursor = encode_cursor([last_row[11], from_db_time(last_row[9]), last_row[0]])
    return items, next_cursor


def summaries_page(items: list[dict[str, Any]], next_cursor: str | None) -> Page[IncidentSummary]:
    """Rows' fields (as pending_items gives them) validated into a page of summaries."""
    # One validation for the whole page: pydantic-core builds the models faster than a Python loop.
    return _PAGE_OF_SUMMARIES.validate_python({"items": items, "next_cursor": next_cursor})


_PAGE_OF_SUMMARIES: TypeAdapter[Page[IncidentSummary]] = TypeAdapter(Page[IncidentSummary])


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


_EXPIRED = select(incidents.c.pk, incidents.c.created_at, incidents.c.status).where(
    incidents.c.claim_expires_at <= bindparam("now", type_=UTCDateTime),
    incidents.c.status.in_([Status.claimed.value, Status.fixing.value]),
)


def expired_claims(connection: Connection, now: datetime) -> list[AnyRow]:
    """Claimed (or fixing) incidents whose lease ran out: a range scan of ix_incidents_claim_expiry."""
    return list(connection.execute(_EXPIRED, {"now": now}).all())


def count_by_status(connection: Connection) -> dict[str, int]:
    from sqlalchemy import func

    rows = connection.execute(select(incidents.c.status, func.count()).group_by(incidents.c.status)).all()
    return {row[0]: row[1] for row in rows}
