"""Changing incidents: state transitions, leases, agents' reports and timeline events.

Each function takes an open Connection inside a transaction, so callers compose several
writes (a transition and its notification, say) into one commit. What a move announces and how
a failed attempt counts belong to the layers above; they come in as the connection's hooks
(``server.store.hooks``).
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, insert, select, update

from server import lifecycle
from server.common.redact import redact_value
from server.errors import ClaimConflict, Conflict, InvalidTransition
from server.models import CLOSED_STATUSES, Severity, Status
from server.store.hooks import hooks_for
from server.store.queries import incident_row
from server.store.rows import AnyRow
from server.store.schema import incidents, timeline


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
    """Append one timeline row; returns its id (the SSE event id later). Secrets in the detail are redacted."""
    result = connection.execute(
        insert(timeline)
        .values(
            incident_pk=incident_pk,
            at=now,
            actor=actor,
            event=event,
            detail=redact_value(detail) if detail else {},
            trace_id=trace_id,
        )
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
    if updates and "review_state" in updates:
        lifecycle.check_review(incident_id, current_row.review_state, updates["review_state"])
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
        if values.get("review_state") is not None:
            values["review_state"] = lifecycle.ReviewState(values["review_state"]).value
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
    moved = connection.execute(select(incidents).where(incidents.c.pk == current_row.pk)).one()
    # The announcement commits with the move, or neither happens (the transactional outbox).
    hooks_for(connection).on_transition(connection, moved, current, to, now=now, detail=detail or {})
    return moved


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
    return transition(
        connection,
        incident_id,
        lifecycle.requeued(current.review_state),
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
    rng: random.Random,
    pr_url: str | None = None,
    notes: str | None = None,
) -> AnyRow:
    """An agent's verdict on its own attempt, moving the lifecycle accordingly.

    success: the PR it names is open for review. failed: back to the queue after a backoff with one
    more attempt counted, or to the dead-letter queue once the budget is spent. needs_review: to humans now.
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
    # The retry policy lives with the attempts, above the store.
    return hooks_for(connection).on_failed_attempt(
        connection,
        incident_id,
        agent=agent,
        error=notes or "the agent reported a failed attempt",
        permanent=False,
        now=now,
        max_attempts=max_attempts,
        rng=rng,
        row=row,
    )
