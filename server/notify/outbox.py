"""The notification outbox: a row written in the same transaction as the state change it announces.

``writes.transition`` calls ``enqueue_for_transition``; if the transaction commits, the event is
on disk, and the sender (``server.notify.sender``) delivers it at least once, after a crash too.
If the transaction rolls back, there is nothing to announce and nothing is sent.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select

from server.models import Severity, Status, format_incident_id
from server.notify.events import EventKind, event_id, http_link
from server.store.rows import AnyRow
from server.store.triage_schema import outbox

#: The state an incident enters -> what people are told.
KIND_FOR_STATUS: dict[Status, EventKind] = {
    Status.escalated: EventKind.escalated,
    Status.awaiting_approval: EventKind.approval_needed,
    Status.pr_open: EventKind.pr_opened,
    Status.merged: EventKind.merged,
    Status.verified: EventKind.verified,
    Status.regressed: EventKind.regressed,
    Status.dead_letter: EventKind.dead_lettered,
}


def kind_for(frm: Status, to: Status, severity: str) -> EventKind | None:
    if frm == Status.triaged and severity == Severity.critical.value and to != Status.escalated:
        return EventKind.new_critical
    if to == Status.pr_open and frm not in (Status.fixing, Status.claimed):
        return None  # back in review after a follow-up is not news; the first opening was
    return KIND_FOR_STATUS.get(to)


def _label_link(labels: dict[str, str] | None, *keys: str) -> str | None:
    """The first http(s) link under ``keys``: an alert's links are stored as ``link.<name>`` labels
    (server.intake.alerts); ``runbook_url`` and the like are what people put on incidents they post."""
    for key in keys:
        found = http_link((labels or {}).get(key))
        if found:
            return found
    return None


def enqueue_for_transition(
    connection: Connection, row: AnyRow, frm: Status, to: Status, *, now: datetime, detail: dict[str, Any]
) -> None:
    found = outbox_row(row, frm, to, now=now, detail=detail)
    if found is not None:
        enqueue_rows(connection, [found])


def outbox_row(row: AnyRow, frm: Status, to: Status, *, now: datetime, detail: dict[str, Any]) -> dict[str, Any] | None:
    """The outbox row announcing a move, or None when the move is not news."""
    kind = kind_for(frm, to, row.severity)
    if kind is None:
        return None
    incident_id = format_incident_id(row.pk, row.created_at)
    text = detail.get("why") or detail.get("error") or detail.get("reason")
    payload = {
        "incident_id": incident_id,
        "kind": kind.value,
        "title": row.title,
        "service": row.service,
        "severity": row.severity,
        "status": to.value,
        "source": row.source,
        "category": row.category,
        "summary": row.summary,
        "detail": str(text)[:500] if text else None,
        "occurrences": row.occurrences,
        "pr_url": detail.get("url") or row.pr_url,
        "runbook": _label_link(row.labels, "link.runbook", "runbook_url", "runbook"),
        "dashboard": _label_link(row.labels, "link.dashboard", "dashboard_url", "dashboard"),
        "occurred_at": now.isoformat(),
    }
    ident = event_id(incident_id, kind, now, discriminator=f"{frm.value}>{to.value}")
    return {
        "event_id": ident,
        "incident_pk": row.pk,
        "kind": kind.value,
        "payload": payload,
        "created_at": now,
        "expanded": False,
    }


def enqueue_rows(connection: Connection, rows: list[dict[str, Any]]) -> None:
    """Insert outbox rows (as outbox_row makes them) in one statement, skipping events already queued."""
    if not rows:
        return
    wanted = {row["event_id"]: row for row in rows}
    queued = connection.execute(select(outbox.c.event_id).where(outbox.c.event_id.in_(list(wanted)))).scalars()
    for ident in queued:
        wanted.pop(ident, None)
    if wanted:
        connection.execute(insert(outbox), list(wanted.values()))
