"""Triage's backlog and its batched moves: the worst received incidents first, a few statements a batch.

The backlog is read from ``ix_incidents_received`` (received rows only, by severity then age), one
short range scan per severity, most severe first. A batch moves with one conditional UPDATE that
takes every incident still received (another worker that got one first keeps it), one UPDATE per
shape of decision for the route, and the timeline, verdict and search rows written together;
notifications and approval requests follow each incident as ``worker.route`` writes them for one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, bindparam, insert, select, text, update

from server import lifecycle
from server.approvals.policy import ApprovalPolicy
from server.common.redact import redact_value
from server.models import CLOSED_STATUSES, Severity, Status, format_incident_id
from server.notify.outbox import enqueue_rows, outbox_row
from server.similar import index as search
from server.similar import matches as similar
from server.similar.index import SearchDocument
from server.store.driver import BulkInsert
from server.store.rows import AnyRow
from server.store.schema import incidents, timeline
from server.store.triage_schema import verdicts

if TYPE_CHECKING:
    from server.triage.worker import Decision

#: Severities in the order triage takes them.
WORST_FIRST = sorted(Severity, key=lambda severity: -severity.rank)

_INSERT_EVENTS = BulkInsert(timeline, ["incident_pk", "at", "actor", "event", "detail", "trace_id"])

# Spelled as literal SQL, not a bound value, so both databases see the partial index's own condition.
_RECEIVED = text("incidents.status = 'received'")


def backlog(connection: Connection, limit: int) -> list[AnyRow]:
    """Up to ``limit`` received incidents, most severe first, then oldest first."""
    rows: list[AnyRow] = []
    for severity in WORST_FIRST:
        if len(rows) >= limit:
            break
        query = (
            select(incidents)
            .where(_RECEIVED, incidents.c.severity == severity.value)
            .order_by(incidents.c.pk)
            .limit(limit - len(rows))
        )
        rows.extend(connection.execute(query).all())
    return rows


def _queue_rank(status: Status, severity: str) -> int | None:
    return 5 - Severity(severity).rank if status in lifecycle.CLAIMABLE else None


def as_routed(row: AnyRow, decision: Decision) -> SimpleNamespace:
    """The incident's row as it will read once routed (its category known): what the search index sees."""
    return SimpleNamespace(**{**row._mapping, **decision.updates})


@dataclass
class Prepared:
    """What a batch's write needs that can be worked out before the write lock is taken."""

    #: Per incident: its column values (with ``moving_pk``) and its two redacted timeline rows.
    moves: dict[int, tuple[dict[str, Any], list[dict[str, Any]]]]
    #: Per incident: its index entry, as it will read once routed.
    documents: dict[int, SearchDocument]
    #: The similar incidents found before the write, as rows of ``incident_similar``, by incident.
    similar_rows: dict[int, list[dict[str, Any]]]


def prepare(
    decided: Sequence[tuple[AnyRow, Decision]],
    now: datetime,
    *,
    similar_found: dict[int, list[tuple[int, float]]] | None = None,
) -> Prepared:
    """The rows a batch will write, built outside the write transaction (intake waits while it is held)."""
    moves: dict[int, tuple[dict[str, Any], list[dict[str, Any]]]] = {}
    documents: dict[int, SearchDocument] = {}
    for row, decision in decided:
        ident = format_incident_id(row.pk, row.created_at)
        first = lifecycle.check(ident, Status.received, Status.triaged)
        second = lifecycle.check(ident, Status.triaged, decision.status)
        severity = decision.updates.get("severity", row.severity)
        values: dict[str, Any] = {
            **decision.updates,
            "status": decision.status.value,
            "updated_at": now,
            "queue_rank": _queue_rank(decision.status, severity),
            "claim_holder": None,
            "claim_expires_at": None,
        }
        if decision.status in CLOSED_STATUSES:
            values["open_fingerprint"] = None
        values["moving_pk"] = row.pk
        triaged = {"from": Status.received.value, "to": Status.triaged.value, "reason": first}
        triaged |= {"route": decision.route, "why": decision.reason, **decision.detail}
        routed = {"from": Status.triaged.value, "to": decision.status.value, "reason": second}
        events = [
            {
                "incident_pk": row.pk,
                "at": now,
                "actor": "system",
                "event": event,
                "detail": redact_value(detail),
                "trace_id": row.trace_id,
            }
            for event, detail in (("triaged", triaged), (decision.status.value, routed))
        ]
        moves[row.pk] = (values, events)
        # The columns the index reads are the row's own and the decision's updates, as written below.
        documents[row.pk] = similar.document_for(as_routed(row, decision))
    found = similar_found or {}
    similar_rows = {pk: similar.similar_rows(pk, found[pk]) for pk in moves if pk in found}
    return Prepared(moves, documents, similar_rows)


def route_batch(
    connection: Connection,
    decided: Sequence[tuple[AnyRow, Decision]],
    now: datetime,
    approval: ApprovalPolicy | None,
    *,
    similar_found: dict[int, list[tuple[int, float]]] | None = None,
    prepared: Prepared | None = None,
) -> int:
    """Move each incident still received through triaged to its route; returns how many moved.

    Writes what ``worker.route`` writes for each (both timeline rows, the verdict, the search
    entry and the similar incidents found before the write, the notification, the approval
    request), in statements shared by the batch. ``prepared`` (from ``prepare``, with the same
    ``decided``) is what can be built before the transaction began; without it, it is built here.
    """
    if not decided:
        return 0
    if prepared is None:
        prepared = prepare(decided, now, similar_found=similar_found)
    taken = update(incidents).where(incidents.c.pk.in_([row.pk for row, _ in decided]), _RECEIVED)
    won = set(connection.execute(taken.values(status=Status.triaged.value).returning(incidents.c.pk)).scalars())
    moving = [(row, decision) for row, decision in decided if row.pk in won]
    if not moving:
        return 0
    shapes: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    events: list[dict[str, Any]] = []
    for row, _ in moving:
        values, row_events = prepared.moves[row.pk]
        shapes.setdefault(tuple(sorted(values)), []).append(values)
        events += row_events
    for shape, params in shapes.items():
        columns: dict[str, Any] = {name: bindparam(name) for name in shape if name != "moving_pk"}
        statement = update(incidents).where(incidents.c.pk == bindparam("moving_pk")).values(columns)
        connection.execute(statement, params)
    _INSERT_EVENTS.execute(connection, events)
    verdict_rows = [{"incident_pk": row.pk, "at": now, **d.verdict} for row, d in moving if d.verdict is not None]
    if verdict_rows:
        connection.execute(insert(verdicts), verdict_rows)
    moved = {row.pk: row for row in connection.execute(select(incidents).where(incidents.c.pk.in_(won))).all()}
    # Indexed once classified (the category is known), and announced, in the same transaction as the move.
    search.index_incidents(connection, [(pk, prepared.documents[pk]) for pk in moved])
    similar.keep(connection, {pk: prepared.similar_rows[pk] for pk in moved if pk in prepared.similar_rows})
    announced = [outbox_row(moved[row.pk], Status.triaged, d.status, now=now, detail={}) for row, d in moving]
    enqueue_rows(connection, [row for row in announced if row is not None])
    for row, decision in moving:
        if decision.status == Status.awaiting_approval:
            ask_approval(connection, moved[row.pk], decision.reason, approval, now)
    return len(moving)


def ask_approval(
    connection: Connection, routed: AnyRow, reason: str, approval: ApprovalPolicy | None, now: datetime
) -> None:
    """The approval a route to ``awaiting_approval`` waits for, asked of people by triage."""
    from server.approvals import records as approvals

    approvals.request(
        connection,
        routed,
        kind="incident",
        subject=f"incident:{format_incident_id(routed.pk, routed.created_at)}",
        requested_by="system:triage",
        reason=reason,
        policy=approval or ApprovalPolicy(),
        now=now,
    )
