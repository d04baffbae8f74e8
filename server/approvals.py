"""Approvals: a person's yes before agents work on an incident, or before a held fix opens its PR.

A request names exactly what is approved (its subject: the incident, or a hash of the held
change), who may approve (never the requester), and when it expires (then the incident is
escalated). Every answer is an immutable timeline row. The decisions are made by
``server.triage.approval``; this module keeps the requests and moves the incident.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Connection, insert, select, update

from server.errors import Forbidden, NotFound
from server.models import Status
from server.store import Store, queries, writes
from server.store.rows import AnyRow, public_id
from server.store.schema import incidents
from server.store.triage_schema import approvals
from server.triage.approval import Answer, ApprovalPolicy, Outcome, decide


class ApprovalRequest(BaseModel):
    id: int
    incident_id: str
    kind: str
    subject: str
    requested_by: str
    approvers: list[str]
    reason: str
    requested_at: datetime
    expires_at: datetime
    decision: str | None = None
    decided_by: str | None = None
    decision_reason: str | None = None
    decided_at: datetime | None = None


class Decided(BaseModel):
    outcome: str
    reason: str
    status: Status
    payload: dict[str, Any] | None = None


def _view(row: AnyRow, incident_id: str) -> ApprovalRequest:
    return ApprovalRequest(
        id=row.id,
        incident_id=incident_id,
        kind=row.kind,
        subject=row.subject,
        requested_by=row.requested_by,
        approvers=list(row.approvers or []),
        reason=row.reason,
        requested_at=row.requested_at,
        expires_at=row.expires_at,
        decision=row.decision,
        decided_by=row.decided_by,
        decision_reason=row.decision_reason,
        decided_at=row.decided_at,
    )


def request(
    connection: Connection,
    incident: AnyRow,
    *,
    kind: str,
    subject: str,
    requested_by: str,
    reason: str,
    policy: ApprovalPolicy,
    now: datetime,
    payload: dict[str, Any] | None = None,
) -> int:
    """Open an approval request (the caller moves the incident to awaiting_approval)."""
    return int(
        connection.execute(
            insert(approvals)
            .values(
                incident_pk=incident.pk,
                kind=kind,
                subject=subject,
                requested_by=requested_by,
                approvers=[*policy.users, *(f"group:{g}" for g in policy.groups)],
                reason=reason,
                payload=payload,
                requested_at=now,
                expires_at=now + policy.expiry,
            )
            .returning(approvals.c.id)
        ).scalar_one()
    )


def open_request(connection: Connection, incident_pk: int) -> AnyRow | None:
    return connection.execute(
        select(approvals)
        .where(approvals.c.incident_pk == incident_pk, approvals.c.decision.is_(None))
        .order_by(approvals.c.id.desc())
    ).first()


def latest(connection: Connection, incident_pk: int, *, kind: str) -> AnyRow | None:
    return connection.execute(
        select(approvals)
        .where(approvals.c.incident_pk == incident_pk, approvals.c.kind == kind)
        .order_by(approvals.c.id.desc())
    ).first()


def requests_for(store: Store, incident_id: str) -> list[ApprovalRequest]:
    with store.read() as connection:
        row = queries.incident_row(connection, incident_id)
        rows = connection.execute(
            select(approvals).where(approvals.c.incident_pk == row.pk).order_by(approvals.c.id)
        ).all()
    return [_view(item, incident_id) for item in rows]


def answer(store: Store, incident_id: str, *, user: str, approve: bool, reason: str, policy: ApprovalPolicy) -> Decided:
    """Apply a person's approve or deny to the incident's open request; raise when they may not."""
    now = store.clock.now()
    actor = f"human:{user}"
    with store.write() as connection:
        incident = queries.incident_row(connection, incident_id, for_update=True)
        pending = open_request(connection, incident.pk)
        if pending is None or Status(incident.status) != Status.awaiting_approval:
            raise NotFound(f"incident {incident_id} has no approval waiting (it is {incident.status})")
        result = decide(
            Answer.approve if approve else Answer.deny,
            user,
            requester=pending.requested_by,
            requested_at=pending.requested_at,
            requested_subject=pending.subject,
            current_subject=pending.subject,
            now=now,
            policy=policy,
        )
        if result.outcome == Outcome.refused:
            raise Forbidden(f"{user} may not answer this request: {result.reason}")
        decision = {"approved": "approved", "denied": "denied", "expired": "expired", "stale": "stale"}[
            result.outcome.value
        ]
        connection.execute(
            update(approvals)
            .where(approvals.c.id == pending.id)
            .values(decision=decision, decided_by=user, decision_reason=reason or result.reason, decided_at=now)
        )
        detail = {
            "approval": pending.id,
            "kind": pending.kind,
            "subject": pending.subject,
            "by": user,
            "reason": reason,
            "outcome": decision,
        }
        if result.outcome == Outcome.approved:
            to = Status.pending if pending.kind == "incident" else Status.fixing
            updates = {}
            if pending.kind == "fix":
                # The held fix goes on; the lease covers the run the approver starts.
                updates = {
                    "claim_holder": pending.requested_by.removeprefix("agent:"),
                    "claim_expires_at": now + store.lease,
                }
            moved = writes.transition(
                connection,
                incident_id,
                to,
                now=now,
                actor=actor,
                event="approved",
                detail=detail,
                updates=updates,
                row=incident,
            )
            return Decided(
                outcome=decision,
                reason=result.reason,
                status=Status(moved.status),
                payload=pending.payload if pending.kind == "fix" else None,
            )
        moved = writes.transition(
            connection,
            incident_id,
            Status.escalated,
            now=now,
            actor=actor,
            event="denied" if decision == "denied" else decision,
            detail=detail,
            row=incident,
        )
        return Decided(outcome=decision, reason=result.reason, status=Status(moved.status))


def expire_due(store: Store) -> int:
    """Escalate incidents whose approval request ran out of time; returns how many."""
    now = store.clock.now()
    with store.read() as connection:
        due = connection.execute(
            select(approvals.c.id, approvals.c.incident_pk).where(
                approvals.c.decision.is_(None), approvals.c.expires_at <= now
            )
        ).all()
    expired = 0
    for item in due:
        with store.write() as connection:
            incident = connection.execute(select(incidents).where(incidents.c.pk == item.incident_pk)).one()
            changed = connection.execute(
                update(approvals)
                .where(approvals.c.id == item.id, approvals.c.decision.is_(None))
                .values(
                    decision="expired", decided_by="system", decision_reason="nobody answered in time", decided_at=now
                )
            )
            if changed.rowcount != 1:
                continue
            if Status(incident.status) == Status.awaiting_approval:
                writes.transition(
                    connection,
                    public_id(incident),
                    Status.escalated,
                    now=now,
                    actor="system",
                    event="approval_expired",
                    detail={"approval": item.id},
                    row=incident,
                )
            expired += 1
    return expired
