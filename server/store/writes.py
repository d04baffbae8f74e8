"""Writing incidents: ingest with dedupe and idempotency, state transitions, leases, timeline events.

Each function takes an open Connection inside a transaction, so callers compose several
writes (a transition and its notification, say) into one commit.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError

from server import lifecycle
from server.errors import ClaimConflict, Conflict, IdempotencyConflict, InvalidTransition
from server.models import CLOSED_STATUSES, IngestResult, NewIncident, Severity, Status, format_incident_id
from server.store.queries import incident_row
from server.store.rows import AnyRow, public_id
from server.store.schema import idempotency_keys, incidents, timeline

#: The route a new incident takes when nothing else decides: low severity is watched, not fixed.
DEFAULT_MONITOR_SEVERITIES = frozenset({Severity.low})


def record_event(
    connection: Connection,
    incident_pk: int,
    *,
    now: datetime,
    actor: str,
    event: str,
    detail: dict[str, Any] | None = None,
    trace_id: str | None = None,
) -> int:
    """Append one timeline row; returns its id (the SSE event id later)."""
    result = connection.execute(
        insert(timeline)
        .values(incident_pk=incident_pk, at=now, actor=actor, event=event, detail=detail or {}, trace_id=trace_id)
        .returning(timeline.c.id)
    )
    return int(result.scalar_one())


def _queue_rank(status: Status, severity: str) -> int | None:
    return 5 - Severity(severity).rank if status in lifecycle.CLAIMABLE else None


def transition(
    connection: Connection,
    incident_id: str,
    to: Status,
    *,
    now: datetime,
    actor: str,
    event: str | None = None,
    detail: dict[str, Any] | None = None,
    expect: set[Status] | None = None,
    updates: dict[str, Any] | None = None,
    row: AnyRow | None = None,
) -> AnyRow:
    """Move an incident to ``to`` if the lifecycle allows it; writes the timeline row too.

    The UPDATE is conditional on the status read, so two processes racing on the same incident
    cannot both succeed: the loser gets a Conflict and nothing it wrote is kept.
    """
    current_row = row if row is not None else incident_row(connection, incident_id, for_update=True)
    current = Status(current_row.status)
    if expect is not None and current not in expect:
        raise InvalidTransition(
            incident_id, current.value, to.value, [s.value for s in lifecycle.allowed_from(current)]
        )
    reason = lifecycle.check(incident_id, current, to)
    values: dict[str, Any] = {
        "status": to.value,
        "updated_at": now,
        "queue_rank": _queue_rank(to, current_row.severity),
    }
    if to in CLOSED_STATUSES:
        values["open_fingerprint"] = None
    if to not in (Status.claimed, Status.fixing):
        values["claim_holder"] = None
        values["claim_expires_at"] = None
    if updates:
        values.update(updates)
    result = connection.execute(
        update(incidents).where(incidents.c.pk == current_row.pk, incidents.c.status == current.value).values(**values)
    )
    if result.rowcount != 1:
        raise Conflict(f"incident {incident_id} changed while it was being updated; read it again and retry")
    record_event(
        connection,
        current_row.pk,
        now=now,
        actor=actor,
        event=event or to.value,
        detail={"from": current.value, "to": to.value, "reason": reason, **(detail or {})},
        trace_id=current_row.trace_id,
    )
    return connection.execute(select(incidents).where(incidents.c.pk == current_row.pk)).one()


def ingest(
    connection: Connection,
    new: NewIncident,
    *,
    now: datetime,
    idempotency_key: str | None = None,
    request_hash: str | None = None,
    initial: Status | None = None,
) -> IngestResult:
    """Store a report: a new incident, or one more occurrence of the open one with its fingerprint."""
    if idempotency_key is not None:
        seen = connection.execute(
            select(idempotency_keys.c.request_hash, idempotency_keys.c.response).where(
                idempotency_keys.c.key == idempotency_key
            )
        ).first()
        if seen is not None:
            if seen.request_hash != request_hash:
                raise IdempotencyConflict(idempotency_key)
            return IngestResult.model_validate(seen.response)
    result = _add_occurrence(connection, new, now=now)
    if result is None:
        savepoint = connection.begin_nested()
        try:
            result = _create(connection, new, now=now, initial=initial)
            savepoint.commit()
        except IntegrityError:
            # Another process opened an incident with this fingerprint between our read and
            # insert (possible on PostgreSQL): count ours as its occurrence instead.
            savepoint.rollback()
            result = _add_occurrence(connection, new, now=now)
            if result is None:
                raise
    if idempotency_key is not None:
        connection.execute(
            insert(idempotency_keys).values(
                key=idempotency_key,
                request_hash=request_hash or "",
                response=result.model_dump(mode="json"),
                created_at=now,
            )
        )
    return result


def _add_occurrence(connection: Connection, new: NewIncident, *, now: datetime) -> IngestResult | None:
    row = connection.execute(
        select(
            incidents.c.pk,
            incidents.c.status,
            incidents.c.trace_id,
            incidents.c.occurrences,
            incidents.c.created_at,
        ).where(incidents.c.open_fingerprint == new.fingerprint)
    ).first()
    if row is None:
        return None
    occurrences = row.occurrences + 1
    changed = connection.execute(
        update(incidents)
        .where(incidents.c.pk == row.pk, incidents.c.open_fingerprint == new.fingerprint)
        .values(occurrences=incidents.c.occurrences + 1, last_seen=now, updated_at=now)
    )
    if changed.rowcount != 1:
        return None
    record_event(
        connection,
        row.pk,
        now=now,
        actor=new.actor,
        event="occurrence",
        detail={"occurrences": occurrences, "source": new.source, "report_trace_id": new.trace_id},
        trace_id=row.trace_id,
    )
    return IngestResult(
        id=public_id(row),
        status=Status(row.status),
        trace_id=row.trace_id,
        duplicate=True,
        occurrences=occurrences,
    )


def _create(connection: Connection, new: NewIncident, *, now: datetime, initial: Status | None) -> IngestResult:
    if initial is not None:
        status, route_reason = initial, "decided by the caller"
    elif new.severity in DEFAULT_MONITOR_SEVERITIES:
        status, route_reason = Status.monitoring, "low severity is monitored, not auto-fixed"
    else:
        status, route_reason = Status.pending, "default route: auto_fix"
    pk = connection.execute(
        insert(incidents)
        .values(
            fingerprint=new.fingerprint,
            open_fingerprint=new.fingerprint,
            source=new.source,
            service=new.service,
            title=new.title,
            error=new.error,
            log_excerpt=new.log_excerpt,
            stack_frames=[frame.model_dump(exclude_none=True) for frame in new.stack_frames],
            severity=new.severity.value,
            affected_files=new.affected_files,
            labels=new.labels,
            repo=new.repo,
            suggested_fix=new.suggested_fix,
            status=status.value,
            queue_rank=_queue_rank(status, new.severity.value),
            attempts=0,
            occurrences=1,
            first_seen=now,
            last_seen=now,
            trace_id=new.trace_id,
            created_at=now,
            updated_at=now,
        )
        .returning(incidents.c.pk)
    ).scalar_one()
    record_event(
        connection,
        pk,
        now=now,
        actor=new.actor,
        event="received",
        detail={"source": new.source, "severity": new.severity.value, "service": new.service},
        trace_id=new.trace_id,
    )
    # received -> triaged -> the route's state: both legs checked against the lifecycle table and
    # recorded as one "triaged" event, so the hot path writes two timeline rows, not three.
    lifecycle.check("new incident", Status.received, Status.triaged)
    reason = lifecycle.check("new incident", Status.triaged, status)
    record_event(
        connection,
        pk,
        now=now,
        actor="system",
        event="triaged",
        detail={"from": Status.received.value, "to": status.value, "reason": reason, "route": route_reason},
        trace_id=new.trace_id,
    )
    return IngestResult(
        id=format_incident_id(pk, now), status=status, trace_id=new.trace_id, duplicate=False, occurrences=1
    )


def claim(connection: Connection, incident_id: str, *, agent: str, now: datetime, lease: timedelta) -> AnyRow:
    """Take (or renew) an agent's lease on an incident. Exactly one of several racing claimers wins."""
    row = incident_row(connection, incident_id, for_update=True)
    status = Status(row.status)
    expires = now + lease
    if status == Status.claimed and row.claim_holder == agent:
        connection.execute(
            update(incidents).where(incidents.c.pk == row.pk).values(claim_expires_at=expires, updated_at=now)
        )
        record_event(
            connection,
            row.pk,
            now=now,
            actor=f"agent:{agent}",
            event="lease_renewed",
            detail={"expires_at": expires.isoformat()},
            trace_id=row.trace_id,
        )
        return connection.execute(select(incidents).where(incidents.c.pk == row.pk)).one()
    if status in (Status.claimed, Status.fixing) and row.claim_expires_at is not None and row.claim_expires_at <= now:
        row = release(connection, incident_id, now=now, actor="system", reason="lease expired", row=row)
        status = Status(row.status)
    if status in (Status.claimed, Status.fixing):
        raise ClaimConflict(
            incident_id,
            f"already claimed by {row.claim_holder} until {row.claim_expires_at:%Y-%m-%dT%H:%M:%SZ}; "
            "pick another incident from get_pending_incidents",
        )
    if status not in lifecycle.CLAIMABLE:
        raise ClaimConflict(
            incident_id,
            f"is {status.value}, not waiting for an agent; only pending incidents (or PRs with changes requested) "
            "can be claimed. Call get_pending_incidents for claimable work.",
        )
    if row.not_before is not None and row.not_before > now:
        raise ClaimConflict(
            incident_id,
            f"is backing off after a failed attempt until {row.not_before:%Y-%m-%dT%H:%M:%SZ}; pick another incident",
        )
    return transition(
        connection,
        incident_id,
        Status.claimed,
        now=now,
        actor=f"agent:{agent}",
        event="claimed",
        detail={"agent": agent, "expires_at": expires.isoformat()},
        updates={"claim_holder": agent, "claim_expires_at": expires},
        row=row,
    )


def release(
    connection: Connection,
    incident_id: str,
    *,
    now: datetime,
    actor: str,
    reason: str,
    row: AnyRow | None = None,
) -> AnyRow:
    """Give a claimed (or crashed mid-fix) incident back to the queue."""
    current = row if row is not None else incident_row(connection, incident_id, for_update=True)
    status = Status(current.status)
    if status == Status.fixing:
        # The process running the fix is gone; count the attempt so a crash loop ends.
        return transition(
            connection,
            incident_id,
            Status.pending,
            now=now,
            actor=actor,
            event="released",
            detail={"why": reason},
            updates={"attempts": current.attempts + 1},
            row=current,
        )
    back = Status.changes_requested if current.review_state == "changes_requested" else Status.pending
    return transition(
        connection,
        incident_id,
        back,
        now=now,
        actor=actor,
        event="released",
        detail={"why": reason},
        row=current,
    )


def require_holder(row: AnyRow, incident_id: str, agent: str | None) -> None:
    """Only the agent holding the lease may act on a claimed incident."""
    if Status(row.status) in (Status.claimed, Status.fixing) and agent and row.claim_holder != agent:
        raise ClaimConflict(incident_id, f"is claimed by {row.claim_holder}, not {agent}; claim_incident first")


def report_fix(
    connection: Connection,
    incident_id: str,
    *,
    agent: str,
    outcome: str,
    now: datetime,
    max_attempts: int,
    pr_url: str | None = None,
    notes: str | None = None,
) -> AnyRow:
    """An agent's verdict on its own attempt, moving the lifecycle accordingly.

    success: the PR it names is open for review. failed: back to the queue with one more
    attempt counted, or to humans once the attempt budget is spent. needs_review: to humans now.
    """
    row = incident_row(connection, incident_id, for_update=True)
    require_holder(row, incident_id, agent)
    status = Status(row.status)
    if status not in (Status.claimed, Status.fixing):
        raise InvalidTransition(incident_id, status.value, "a reported outcome", ["claim it first with claim_incident"])
    actor = f"agent:{agent}"
    detail: dict[str, Any] = {"outcome": outcome, "notes": notes} if notes else {"outcome": outcome}
    if outcome == "success":
        updates: dict[str, Any] = {}
        if pr_url:
            updates["pr_url"] = pr_url
            number = pr_url.rstrip("/").rsplit("/", 1)[-1]
            if number.isdigit():
                updates["pr_number"] = int(number)
            detail["pr_url"] = pr_url
        return transition(
            connection,
            incident_id,
            Status.pr_open,
            now=now,
            actor=actor,
            event="fix_reported",
            detail=detail,
            updates=updates,
            row=row,
        )
    if outcome == "needs_review":
        return transition(
            connection,
            incident_id,
            Status.escalated,
            now=now,
            actor=actor,
            event="needs_review",
            detail=detail,
            row=row,
        )
    attempts = row.attempts + 1
    detail["attempts"] = attempts
    if attempts >= max_attempts:
        detail["why"] = f"{attempts} of {max_attempts} attempts failed"
        return transition(
            connection,
            incident_id,
            Status.escalated,
            now=now,
            actor=actor,
            event="attempts_exhausted",
            detail=detail,
            updates={"attempts": attempts},
            row=row,
        )
    back = Status.changes_requested if row.review_state == "changes_requested" else Status.pending
    return transition(
        connection,
        incident_id,
        back,
        now=now,
        actor=actor,
        event="fix_failed",
        detail=detail,
        updates={"attempts": attempts},
        row=row,
    )
