"""Approvals: a person's yes before agents work on an incident, or before a held fix opens its PR.

A request names exactly what is approved (its subject: the incident, a hash of the held
change, or a pull request's head commit), who may approve (never the requester), and when it
expires (then the incident is escalated). A held fix on an incident whose pull request is open
is bound to that PR's head too. An approval is checked against what is current when it is
given: if the held change or the PR's head moved since the request, the approval is stale; the
old request is closed as stale, a new one is opened for what is current now (and announced),
and ``ApprovalStale`` (server.errors) says so. Every answer is an immutable timeline row. The
decisions are made by ``server.approvals.policy``; this module keeps the requests and moves the incident.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Connection, insert, select, update

from server.approvals.policy import Answer, ApprovalPolicy, Outcome, decide, fix_subject, head_subject
from server.errors import ApprovalStale, Forbidden, NotFound
from server.models import Status
from server.store import Store, queries, writes
from server.store.rows import AnyRow, public_id
from server.store.schema import incidents
from server.store.triage_schema import approvals

NO_HEAD = "no pull request head"


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
    """Open an approval request (the caller moves the incident to awaiting_approval).

    A held fix on an incident with an open pull request also records the PR's head commit, so an
    approval given after the head moved is stale."""
    if kind == "fix" and incident.pr_head_sha:
        payload = {**(payload or {}), "pr_head": incident.pr_head_sha}
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


def _head(sha: str | None) -> str:
    if not sha:
        return NO_HEAD
    try:
        return head_subject(sha)
    except ValueError:  # a forge's odd head value still compares, it must not fail the answer
        return f"head {sha[:64]!r}"


def current_subject(pending: AnyRow, incident: AnyRow) -> str:
    """What ``pending`` would be bound to if it were requested now."""
    if pending.subject.startswith("sha:"):  # approval given on a pull request's head commit
        return _head(incident.pr_head_sha)
    held = (pending.payload or {}).get("submission")
    if pending.kind == "fix" and held is not None:
        from server.fixing.models import FixSubmission

        # The subject the request was bound to, over the change that would run now.
        return fix_subject(FixSubmission.model_validate(held).change)
    return str(pending.subject)


def _subjects(pending: AnyRow, incident: AnyRow) -> tuple[str, str]:
    """(what the request was for, what is current now), as ``decide`` compares them."""
    asked_head = (pending.payload or {}).get("pr_head")
    if asked_head and asked_head != incident.pr_head_sha:
        return _head(asked_head), _head(incident.pr_head_sha)
    return str(pending.subject), current_subject(pending, incident)


def _ask_again(
    connection: Connection, incident: AnyRow, pending: AnyRow, *, why: str, policy: ApprovalPolicy, now: datetime
) -> int:
    """Open a new request like ``pending`` for what is current now, note it, and tell people."""
    from server.notify.outbox import enqueue_for_transition

    payload = {key: value for key, value in (pending.payload or {}).items() if key != "pr_head"}
    new_id = request(
        connection,
        incident,
        kind=pending.kind,
        subject=current_subject(pending, incident),
        requested_by=pending.requested_by,
        reason=pending.reason,
        policy=policy,
        now=now,
        payload=payload or None,
    )
    detail = {"approval": new_id, "why": pending.reason, "stale": f"approval {pending.id} is stale: {why}"}
    writes.record_event(
        connection,
        incident.pk,
        now=now,
        actor="system",
        event="approval_requested",
        detail=detail,
        trace_id=incident.trace_id,
    )
    # Still awaiting approval, but of something new: announce it like a first request.
    enqueue_for_transition(
        connection,
        incident,
        Status.awaiting_approval,
        Status.awaiting_approval,
        now=now,
        detail={"why": f"a new approval is needed: {why}"},
    )
    return new_id


def requests_for(store: Store, incident_id: str) -> list[ApprovalRequest]:
    with store.read() as connection:
        row = queries.incident_row(connection, incident_id)
        rows = connection.execute(
            select(approvals).where(approvals.c.incident_pk == row.pk).order_by(approvals.c.id)
        ).all()
    return [_view(item, incident_id) for item in rows]


def answer(
    store: Store,
    incident_id: str,
    *,
    user: str,
    approve: bool,
    reason: str,
    policy: ApprovalPolicy,
    verified_by: str | None = None,
    groups: tuple[str, ...] = (),
) -> Decided:
    """Apply a person's approve or deny to the incident's open request; raise when they may not, and
    ``ApprovalStale`` when what they approved has moved (a new request is then open).

    ``verified_by`` says how the caller verified ``user`` (``server.approvals.people.Verification``); it goes
    on the timeline with the answer. Faces call ``server.approvals.answers.answer_as``, which sets it."""
    decided = _answer(
        store,
        incident_id,
        user=user,
        approve=approve,
        reason=reason,
        policy=policy,
        verified_by=verified_by,
        groups=groups,
    )
    if isinstance(decided, ApprovalStale):
        raise decided  # after the commit: the stale mark and the new request stay
    return decided


def _answer(
    store: Store,
    incident_id: str,
    *,
    user: str,
    approve: bool,
    reason: str,
    policy: ApprovalPolicy,
    verified_by: str | None,
    groups: tuple[str, ...],
) -> Decided | ApprovalStale:
    now = store.clock.now()
    actor = f"human:{user}"
    with store.write() as connection:
        incident = queries.incident_row(connection, incident_id, for_update=True)
        pending = open_request(connection, incident.pk)
        if pending is None or Status(incident.status) != Status.awaiting_approval:
            raise NotFound(f"incident {incident_id} has no approval waiting (it is {incident.status})")
        requested, current = _subjects(pending, incident)
        result = decide(
            Answer.approve if approve else Answer.deny,
            user,
            requester=pending.requested_by,
            requested_at=pending.requested_at,
            requested_subject=requested,
            current_subject=current,
            now=now,
            policy=policy,
            user_groups=groups,
        )
        submitter = (pending.payload or {}).get("submitted_by")
        if approve and submitter and str(submitter).casefold() == user.strip().casefold():
            raise Forbidden(f"{user} submitted this change and cannot approve it; another approver must")
        if result.outcome == Outcome.refused:
            raise Forbidden(f"{user} may not answer this request: {result.reason}")
        if result.outcome == Outcome.stale and requested.startswith("sha:"):
            why = f"the pull request's head moved since approval was requested ({requested} -> {current})"
            result = result.model_copy(update={"reason": why})
        decision = {"approved": "approved", "denied": "denied", "expired": "expired", "stale": "stale"}[
            result.outcome.value
        ]
        connection.execute(
            update(approvals)
            .where(approvals.c.id == pending.id)
            .values(decision=decision, decided_by=user, decision_reason=reason or result.reason, decided_at=now)
        )
        if result.outcome == Outcome.stale:
            new_id = _ask_again(connection, incident, pending, why=result.reason, policy=policy, now=now)
            return ApprovalStale(incident_id, stale_id=pending.id, new_id=new_id, why=result.reason)
        detail = {
            "approval": pending.id,
            "kind": pending.kind,
            "subject": pending.subject,
            "by": user,
            "reason": reason,
            "outcome": decision,
        }
        if verified_by is not None:
            detail["verified_by"] = verified_by
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
