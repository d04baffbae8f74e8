"""Storing reports: a new incident, or one more occurrence of the open incident with its fingerprint.

Two paths with one meaning. ``ingest_batch`` stores many reports with a handful of statements
(one lookup of open fingerprints, one multi-row insert per table) and is what the REST hot path
uses through the group committer. ``ingest_one`` is the careful per-report path, used alone and
as the fallback when a batch meets a conflict (another replica opened the same fingerprint).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, select, update
from sqlalchemy.exc import IntegrityError

from server import lifecycle
from server.errors import IdempotencyConflict
from server.models import IngestResult, NewIncident, Status, format_incident_id
from server.store.driver import BulkInsert
from server.store.schema import idempotency_keys, incidents, timeline


@dataclass(frozen=True)
class IngestRequest:
    new: NewIncident
    now: datetime
    idempotency_key: str | None = None
    request_hash: str | None = None
    initial: Status | None = None


# Statements are built once: the hot path then pays for execution, not for SQL construction.
_FIND_OPEN = select(
    incidents.c.pk,
    incidents.c.open_fingerprint,
    incidents.c.status,
    incidents.c.trace_id,
    incidents.c.occurrences,
    incidents.c.created_at,
).where(incidents.c.open_fingerprint.in_(bindparam("fingerprints", expanding=True)))
_FIND_KEYS = select(idempotency_keys.c.key, idempotency_keys.c.request_hash, idempotency_keys.c.response).where(
    idempotency_keys.c.key.in_(bindparam("keys", expanding=True))
)
# No RETURNING: with it, SQLite inserts row by row; the new rows' keys are read back in one query.
_INSERT_INCIDENTS = BulkInsert(
    incidents,
    [
        "fingerprint",
        "open_fingerprint",
        "source",
        "service",
        "title",
        "error",
        "log_excerpt",
        "stack_frames",
        "severity",
        "suggested_fix",
        "affected_files",
        "labels",
        "repo",
        "status",
        "queue_rank",
        "attempts",
        "occurrences",
        "first_seen",
        "last_seen",
        "trace_id",
        "created_at",
        "updated_at",
    ],
)
_FIND_NEW = select(incidents.c.pk, incidents.c.open_fingerprint).where(
    incidents.c.open_fingerprint.in_(bindparam("fingerprints", expanding=True))
)
_INSERT_EVENTS = BulkInsert(timeline, ["incident_pk", "at", "actor", "event", "detail", "trace_id"])
_INSERT_KEYS = BulkInsert(idempotency_keys, ["key", "request_hash", "response", "created_at"])
_BUMP = (
    update(incidents)
    .where(incidents.c.pk == bindparam("target"))
    .values(
        occurrences=incidents.c.occurrences + bindparam("more"),
        last_seen=bindparam("seen"),
        updated_at=bindparam("seen"),
    )
)


def route(new: NewIncident, initial: Status | None) -> tuple[Status, str]:
    """The state a new incident is stored in: received, for the triage worker to route."""
    if initial is not None:
        return initial, "decided by the caller"
    return Status.received, "waiting for triage"


def _incident_values(new: NewIncident, status: Status, now: datetime) -> dict[str, Any]:
    # Columns left out (claim, PR, classification) start NULL; every row of one insert has the same keys.
    return {
        "fingerprint": new.fingerprint,
        "open_fingerprint": new.fingerprint,
        "source": new.source,
        "service": new.service,
        "title": new.title,
        "error": new.error,
        "log_excerpt": new.log_excerpt,
        "stack_frames": [frame.model_dump(exclude_none=True) for frame in new.stack_frames],
        "severity": new.severity.value,
        "suggested_fix": new.suggested_fix,
        "affected_files": new.affected_files,
        "labels": new.labels,
        "repo": new.repo,
        "status": status.value,
        "queue_rank": 5 - new.severity.rank if status in lifecycle.CLAIMABLE else None,
        "attempts": 0,
        "occurrences": 1,
        "first_seen": now,
        "last_seen": now,
        "trace_id": new.trace_id,
        "created_at": now,
        "updated_at": now,
    }


def _creation_event(pk: int, new: NewIncident, status: Status, why: str, now: datetime) -> dict[str, Any]:
    detail: dict[str, Any] = {"source": new.source, "severity": new.severity.value, "service": new.service}
    if status != Status.received:
        # Created straight into another state (a caller that routed it): both legs checked.
        lifecycle.check("new incident", Status.received, Status.triaged)
        detail |= {"to": status.value, "reason": lifecycle.check("new incident", Status.triaged, status), "route": why}
    return {
        "incident_pk": pk,
        "at": now,
        "actor": new.actor,
        "event": "received",
        "detail": detail,
        "trace_id": new.trace_id,
    }


def _occurrence_event(pk: int, trace_id: str, new: NewIncident, count: int, now: datetime) -> dict[str, Any]:
    return {
        "incident_pk": pk,
        "at": now,
        "actor": new.actor,
        "event": "occurrence",
        "detail": {"occurrences": count, "source": new.source, "report_trace_id": new.trace_id},
        "trace_id": trace_id,
    }


@dataclass
class _Open:
    """An open incident as the batch sees it: stored, or created earlier in this batch."""

    pk: int | None
    status: Status
    trace_id: str
    occurrences: int
    created_at: datetime
    added: int = 0


def ingest_batch(connection: Connection, requests: Sequence[IngestRequest]) -> list[IngestResult | Exception]:
    """Store every request; per-request refusals come back as exceptions, in order.

    Raises (and writes nothing the caller keeps) only when the database refuses the batch,
    e.g. another replica opened one of these fingerprints meanwhile; then retry one by one.
    """
    results: list[IngestResult | Exception | None] = [None] * len(requests)
    same_as: dict[int, int] = {}
    keys = sorted({r.idempotency_key for r in requests if r.idempotency_key})
    if keys:
        stored = {row.key: row for row in connection.execute(_FIND_KEYS, {"keys": keys})}
        first_with: dict[str, int] = {}
        for index, request in enumerate(requests):
            key = request.idempotency_key
            if key is None:
                continue
            seen = stored.get(key)
            if seen is not None:
                results[index] = (
                    IngestResult.model_validate(seen.response)
                    if seen.request_hash == request.request_hash
                    else IdempotencyConflict(key)
                )
            elif key in first_with:
                if requests[first_with[key]].request_hash == request.request_hash:
                    same_as[index] = first_with[key]
                else:
                    results[index] = IdempotencyConflict(key)
            else:
                first_with[key] = index
    todo = [i for i in range(len(requests)) if results[i] is None and i not in same_as]
    fingerprints = sorted({requests[i].new.fingerprint for i in todo})
    open_by_fp: dict[str, _Open] = {}
    if fingerprints:
        for row in connection.execute(_FIND_OPEN, {"fingerprints": fingerprints}):
            open_by_fp[row.open_fingerprint] = _Open(
                pk=row.pk,
                status=Status(row.status),
                trace_id=row.trace_id,
                occurrences=row.occurrences,
                created_at=row.created_at,
            )
    # Decide, in arrival order, which requests create an incident and which repeat one.
    creates: list[int] = []
    plan: list[tuple[int, str, int]] = []  # (request index, fingerprint, occurrence count after it)
    for index in todo:
        request = requests[index]
        fp = request.new.fingerprint
        target = open_by_fp.get(fp)
        if target is None:
            status, _why = route(request.new, request.initial)
            open_by_fp[fp] = _Open(
                pk=None, status=status, trace_id=request.new.trace_id, occurrences=1, created_at=request.now
            )
            creates.append(index)
            plan.append((index, fp, 1))
        else:
            target.added += 1
            plan.append((index, fp, target.occurrences + target.added))
    created_pk: dict[str, int] = {}
    if creates:
        rows = []
        for index in creates:
            request = requests[index]
            status, _why = route(request.new, request.initial)
            rows.append(_incident_values(request.new, status, request.now))
        _INSERT_INCIDENTS.execute(connection, rows)
        new_fps = [requests[index].new.fingerprint for index in creates]
        if connection.dialect.name == "sqlite":
            # This connection holds the write lock (BEGIN IMMEDIATE) and gave no pk, so SQLite
            # numbered the rows one after another from the largest rowid: the last one is known.
            last = connection.exec_driver_sql("SELECT last_insert_rowid()").scalar_one()
            first = last - len(new_fps) + 1
            created_pk = {fp: first + offset for offset, fp in enumerate(new_fps)}
        else:
            for found in connection.execute(_FIND_NEW, {"fingerprints": new_fps}):
                created_pk[found.open_fingerprint] = found.pk
    events: list[dict[str, Any]] = []
    bumps: dict[int, tuple[int, datetime]] = {}
    for index, fp, count in plan:
        request = requests[index]
        target = open_by_fp[fp]
        pk = target.pk if target.pk is not None else created_pk[fp]
        if count == 1 and target.pk is None:
            status, why = route(request.new, request.initial)
            events.append(_creation_event(pk, request.new, status, why, request.now))
            results[index] = IngestResult.model_construct(
                id=format_incident_id(pk, request.now),
                status=status,
                trace_id=request.new.trace_id,
                duplicate=False,
                occurrences=1,
            )
        else:
            events.append(_occurrence_event(pk, target.trace_id, request.new, count, request.now))
            more, _ = bumps.get(pk, (0, request.now))
            bumps[pk] = (more + 1, request.now)
            results[index] = IngestResult.model_construct(
                id=format_incident_id(pk, target.created_at),
                status=target.status,
                trace_id=target.trace_id,
                duplicate=True,
                occurrences=count,
            )
    if bumps:
        connection.execute(_BUMP, [{"target": pk, "more": more, "seen": seen} for pk, (more, seen) in bumps.items()])
    if events:
        _INSERT_EVENTS.execute(connection, events)
    for index, first in same_as.items():
        results[index] = results[first]
    answered = []
    for index, request in enumerate(requests):
        result = results[index]
        if request.idempotency_key and index in todo and isinstance(result, IngestResult):
            answered.append(
                {
                    "key": request.idempotency_key,
                    "request_hash": request.request_hash or "",
                    "response": result.model_dump(mode="json"),
                    "created_at": request.now,
                }
            )
    if answered:
        _INSERT_KEYS.execute(connection, answered)
    return [r if r is not None else RuntimeError("unanswered") for r in results]


def ingest_one(connection: Connection, request: IngestRequest) -> IngestResult:
    """Store one request; IdempotencyConflict when its key was used with another body."""
    for attempt in range(2):
        savepoint = connection.begin_nested()
        try:
            (result,) = ingest_batch(connection, [request])
            savepoint.commit()
        except IntegrityError:
            # Another process opened an incident with this fingerprint between our read and our
            # insert (possible on PostgreSQL): read again, and count ours as its occurrence.
            savepoint.rollback()
            if attempt == 1:
                raise
            continue
        if isinstance(result, Exception):
            raise result
        return result
    raise AssertionError("unreachable")
