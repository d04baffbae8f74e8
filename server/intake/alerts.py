"""Alerts into incidents: one delivery stored atomically, resolution per alert, repeats as occurrences.

A parsed delivery (``server.intake.sources``) becomes: a new incident or an occurrence of the open one
for each firing alert (identity = the source's own, namespaced by source, or the `group_by`
labels' values); for each resolved alert, the open incident closes as ``resolved_by_source``
while no fix is in flight (for a group, once no other member still fires), or the signal is
recorded for verification once one is; ignored
alerts are kept but touch no incident. Every alert is kept with its (redacted, capped) payload.
A delivery id makes a retried delivery answer the first answer again. Deliveries waiting at the
same moment share one commit (``GroupCommitter``): one transaction per batch, and a delivery is
never half-stored.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import Connection, select, update

from server.common.redact import redact, redact_value
from server.config import HealerConfig
from server.intake.reports import LOG_EXCERPT_CHARS, new_trace_id, redact_frame
from server.intake.sources.base import AlertEvent, AlertStatus, ParsedDelivery, SourceConfig
from server.models import NewIncident, Status
from server.store import queries, writes
from server.store.alerts_schema import alert_deliveries, alerts
from server.store.driver import BulkInsert
from server.store.ingest import IngestRequest, ingest_batch
from server.store.rows import public_id
from server.store.schema import incidents

RAW_CAP = 32_000  # characters of JSON kept per alert

#: While the incident is in one of these, the monitor's "resolved" closes it; later, a fix is in flight.
CLOSE_ON_RESOLVE = frozenset(
    {
        Status.received,
        Status.triaged,
        Status.pending,
        Status.claimed,
        Status.monitoring,
        Status.escalated,
        Status.awaiting_approval,
        Status.dead_letter,
        Status.regressed,
        Status.fix_rejected,
    }
)

Outcome = Literal["created", "occurrence", "resolved", "ignored"]


class AlertOutcome(BaseModel):
    identity: str
    status: str
    outcome: Outcome
    incident_id: str | None = None
    reason: str | None = None


class DeliveryResult(BaseModel):
    source: str
    delivery_id: str | None = None
    redelivery: bool = False
    truncated: int = 0
    alerts: list[AlertOutcome] = Field(default_factory=list)


@dataclass(frozen=True)
class DeliveryRequest:
    parsed: ParsedDelivery
    config: SourceConfig
    now: datetime


_INSERT_ALERTS = BulkInsert(
    alerts, ["incident_pk", "source_name", "identity", "status", "outcome", "reason", "received_at", "payload"]
)
_INSERT_DELIVERIES = BulkInsert(alert_deliveries, ["source_name", "delivery_id", "response", "received_at"])


def fingerprint_for(alert: AlertEvent, config: SourceConfig) -> str:
    """The incident identity of an alert: the group's, when the source groups, else the alert's own."""
    if config.group_by:
        values = [f"{name}={alert.labels.get(name, '')}" for name in config.group_by]
        basis = f"alert-group\n{config.name}\n" + "\n".join(values)
    else:
        basis = f"alert\n{config.name}\n{alert.identity}"
    return hashlib.sha256(basis.encode()).hexdigest()


def _capped_payload(alert: AlertEvent) -> dict[str, Any]:
    data = redact_value(alert.raw_alert)
    text = json.dumps(data, default=str)
    if len(text) > RAW_CAP:
        return {"truncated": True, "size": len(text), "head": text[:RAW_CAP]}
    return data  # type: ignore[no-any-return]


def _new_incident(alert: AlertEvent, config: SourceConfig, healer: HealerConfig) -> NewIncident:
    repo = healer.repo_for_service(alert.service)
    error = alert.error or alert.description or alert.title
    labels = redact_value({redact(k): v for k, v in alert.labels.items()})
    labels.update(
        {f"link.{name}": redact(url) for name, url in alert.links.items() if url.startswith(("http://", "https://"))}
    )
    return NewIncident(
        fingerprint=fingerprint_for(alert, config),
        source=config.name,
        service=redact(alert.service),
        title=redact(alert.title)[:500] or "(no title)",
        error=redact(error)[:20_000] if error else None,
        log_excerpt=redact(alert.log)[-LOG_EXCERPT_CHARS:] if alert.log else None,
        stack_frames=[redact_frame(frame) for frame in alert.stack_frames],
        severity=alert.severity,
        labels=labels,
        repo=repo.name if repo else None,
        trace_id=new_trace_id(),
        actor=f"source:{config.name}",
    )


def store_deliveries(
    connection: Connection, requests: Sequence[DeliveryRequest], healer: HealerConfig
) -> list[DeliveryResult | Exception]:
    """Store many deliveries in the caller's transaction (the batch path of the group commit)."""
    results: list[DeliveryResult | Exception | None] = [None] * len(requests)
    seen_ids: dict[tuple[str, str], int] = {}
    todo: list[int] = []
    for index, request in enumerate(requests):
        parsed = request.parsed
        if parsed.delivery_id:
            key = (request.config.name, parsed.delivery_id)
            stored = connection.execute(
                select(alert_deliveries.c.response).where(
                    alert_deliveries.c.source_name == key[0], alert_deliveries.c.delivery_id == key[1]
                )
            ).first()
            if stored is not None:
                results[index] = DeliveryResult.model_validate({**stored.response, "redelivery": True})
                continue
            if key in seen_ids:
                continue  # answered below with the first one's result
            seen_ids[key] = index
        todo.append(index)
    # Every firing alert of every delivery in one ingest: one lookup and a few multi-row inserts.
    firing: list[tuple[int, int, IngestRequest]] = []
    for index in todo:
        request = requests[index]
        for position, alert in enumerate(request.parsed.alerts):
            if alert.status in (AlertStatus.firing, AlertStatus.acknowledged):
                new = _new_incident(alert, request.config, healer)
                firing.append((index, position, IngestRequest(new, request.now)))
    ingested = ingest_batch(connection, [item[2] for item in firing]) if firing else []
    by_alert = {(index, position): result for (index, position, _), result in zip(firing, ingested, strict=True)}
    rows: list[dict[str, Any]] = []
    answered: list[dict[str, Any]] = []
    for index in todo:
        request = requests[index]
        outcomes: list[AlertOutcome] = []
        for position, alert in enumerate(request.parsed.alerts):
            outcome, incident_pk = _one(connection, request, alert, by_alert.get((index, position)), rows)
            outcomes.append(outcome)
            rows.append(
                {
                    "incident_pk": incident_pk,
                    "source_name": request.config.name,
                    "identity": alert.identity[:300],
                    "status": alert.status.value,
                    "outcome": outcome.outcome,
                    "reason": outcome.reason,
                    "received_at": request.now,
                    "payload": _capped_payload(alert),
                }
            )
        result = DeliveryResult(
            source=request.config.name,
            delivery_id=request.parsed.delivery_id,
            truncated=request.parsed.truncated,
            alerts=outcomes,
        )
        results[index] = result
        if request.parsed.delivery_id:
            answered.append(
                {
                    "source_name": request.config.name,
                    "delivery_id": request.parsed.delivery_id[:300],
                    "response": result.model_dump(mode="json"),
                    "received_at": request.now,
                }
            )
    _INSERT_ALERTS.execute(connection, rows)
    _INSERT_DELIVERIES.execute(connection, answered)
    for index, request in enumerate(requests):
        if results[index] is None and request.parsed.delivery_id:
            first = results[seen_ids[(request.config.name, request.parsed.delivery_id)]]
            assert isinstance(first, DeliveryResult)
            results[index] = first.model_copy(update={"redelivery": True})
    return [r if r is not None else RuntimeError("unanswered") for r in results]


def _members_still_firing(
    connection: Connection, request: DeliveryRequest, alert: AlertEvent, incident_pk: int, batch: list[dict[str, Any]]
) -> list[str]:
    """The other alerts of a `group_by` incident whose latest word is still firing.

    One member's resolution must not close the outage while another member fires. The latest
    status per identity comes from the stored alerts, then this batch's earlier deliveries (not
    stored yet), then this delivery (a snapshot of the group, so its order does not matter).
    """
    latest: dict[str, str] = {}
    stored = connection.execute(
        select(alerts.c.identity, alerts.c.status).where(alerts.c.incident_pk == incident_pk).order_by(alerts.c.id)
    ).all()
    latest.update((item.identity, item.status) for item in stored)
    latest.update((item["identity"], item["status"]) for item in batch if item["incident_pk"] == incident_pk)
    fingerprint = fingerprint_for(alert, request.config)
    for other in request.parsed.alerts:
        if fingerprint_for(other, request.config) == fingerprint:
            latest[other.identity[:300]] = other.status.value
    latest.pop(alert.identity[:300], None)
    still = {AlertStatus.firing.value, AlertStatus.acknowledged.value}
    return sorted(identity for identity, status in latest.items() if status in still)


def _one(
    connection: Connection,
    request: DeliveryRequest,
    alert: AlertEvent,
    ingested: Any,
    batch: list[dict[str, Any]],
) -> tuple[AlertOutcome, int | None]:
    base = {"identity": alert.identity, "status": alert.status.value}
    if alert.status == AlertStatus.ignored:
        return AlertOutcome(**base, outcome="ignored", reason=alert.ignored_reason), None
    if ingested is not None:
        if isinstance(ingested, Exception):
            raise ingested
        pk = int(ingested.id.rsplit("-", 1)[1])
        return (
            AlertOutcome(**base, outcome="occurrence" if ingested.duplicate else "created", incident_id=ingested.id),
            pk,
        )
    # Resolved: find the open incident with this identity.
    fp = fingerprint_for(alert, request.config)
    row = connection.execute(select(incidents).where(incidents.c.open_fingerprint == fp)).first()
    if row is None:
        return AlertOutcome(**base, outcome="ignored", reason="no open incident has this alert's identity"), None
    ident = public_id(row)
    status = Status(row.status)
    detail = {"source": request.config.name, "identity": alert.identity}
    if request.config.group_by:
        firing_members = _members_still_firing(connection, request, alert, row.pk, batch)
        if firing_members:
            why = (
                f"the incident stays open: {len(firing_members)} other alert(s) of its group still fire "
                f"({', '.join(firing_members[:5])})"
            )
            return AlertOutcome(**base, outcome="resolved", incident_id=ident, reason=why), row.pk
    if status in CLOSE_ON_RESOLVE:
        why = "the monitor reports the alert resolved before any fix"
        if status in (Status.claimed, Status.fixing):
            why += f"; the claim of {row.claim_holder} is released"
        writes.transition(
            connection,
            ident,
            Status.resolved_by_source,
            now=request.now,
            actor=f"source:{request.config.name}",
            event="resolved_by_source",
            detail={**detail, "why": why},
            row=row,
            updates={"source_resolved_at": request.now},
        )
        return AlertOutcome(**base, outcome="resolved", incident_id=ident, reason=why), row.pk
    # A fix is in flight or merged: keep the signal for verification, do not close.
    connection.execute(update(incidents).where(incidents.c.pk == row.pk).values(source_resolved_at=request.now))
    writes.record_event(
        connection,
        row.pk,
        now=request.now,
        actor=f"source:{request.config.name}",
        event="source_resolved",
        detail={**detail, "while": status.value},
        trace_id=row.trace_id,
    )
    return AlertOutcome(
        **base,
        outcome="resolved",
        incident_id=ident,
        reason=f"recorded for verification (the incident is {status.value})",
    ), row.pk


def store_one(connection: Connection, request: DeliveryRequest, healer: HealerConfig) -> DeliveryResult:
    """One delivery in its own savepoint (the fallback when a batch is refused)."""
    (result,) = store_deliveries(connection, [request], healer)
    if isinstance(result, Exception):
        raise result
    return result


class AlertPage(BaseModel):
    items: list[dict[str, Any]]
    next_cursor: str | None = None


def alerts_of(connection: Connection, incident_id: str, *, cursor: str | None, limit: int) -> AlertPage:
    """The alerts received for an incident, newest first."""
    from server.store.rows import decode_cursor, encode_cursor

    row = queries.incident_row(connection, incident_id)
    query = select(alerts).where(alerts.c.incident_pk == row.pk)
    if cursor:
        (after,) = decode_cursor(cursor, (int,))
        query = query.where(alerts.c.id < after)
    found = connection.execute(query.order_by(alerts.c.id.desc()).limit(limit + 1)).all()
    items = [
        {
            "id": item.id,
            "source": item.source_name,
            "identity": item.identity,
            "status": item.status,
            "outcome": item.outcome,
            "reason": item.reason,
            "received_at": item.received_at.isoformat(),
            "payload": item.payload,
        }
        for item in found[:limit]
    ]
    return AlertPage(items=items, next_cursor=encode_cursor([found[limit - 1].id]) if len(found) > limit else None)
