"""Fix attempts: a failed one waits out a backoff before the incident is offered again; too many, or a
permanent failure, and it goes to the dead-letter queue for a person.

Backoff is capped exponential with full jitter (``server.common.retry.backoff``), so a crowd of
failing incidents does not come back in lockstep. A dead incident never blocks others: the queue
skips it like any closed work.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Connection, insert, select

from server import lifecycle
from server.common.redact import redact
from server.common.retry import backoff
from server.errors import NotDeadLettered
from server.models import Incident, Status
from server.store import Store, queries, writes
from server.store.rows import AnyRow, to_incident
from server.store.triage_schema import fix_attempts

BACKOFF_BASE_SECONDS = 30.0
BACKOFF_CAP_SECONDS = 3600.0
#: What `healer dlq retry` may send back to the agents.
RETRYABLE = frozenset({Status.dead_letter, Status.fix_rejected})


class AttemptRecord(BaseModel):
    number: int
    agent: str
    at: datetime
    outcome: str
    permanent: bool
    error: str | None


class DeadLetter(BaseModel):
    incident: Incident
    last_error: str | None
    attempts: list[AttemptRecord]


def record_failed_attempt(
    connection: Connection,
    incident_id: str,
    *,
    agent: str,
    error: str,
    permanent: bool,
    now: datetime,
    max_attempts: int,
    rng: random.Random,
    row: AnyRow | None = None,
) -> AnyRow:
    """Count a failed attempt and move the incident: back to the queue after a backoff, or dead-lettered."""
    current = row if row is not None else queries.incident_row(connection, incident_id, for_update=True)
    number = current.attempts + 1
    error = redact(error)  # a failure's message can quote test output or a remote's answer
    connection.execute(
        insert(fix_attempts).values(
            incident_pk=current.pk,
            number=number,
            agent=agent,
            at=now,
            outcome="failed",
            permanent=permanent,
            error=error[:4000],
        )
    )
    detail: dict[str, Any] = {"attempt": number, "of": max_attempts, "error": error[:2000], "permanent": permanent}
    to = lifecycle.after_failed_attempt(
        current.review_state, attempt=number, max_attempts=max_attempts, permanent=permanent
    )
    if to == Status.dead_letter:
        detail["why"] = (
            "a permanent failure: retrying the same thing would fail the same way"
            if permanent
            else (f"{number} of {max_attempts} attempts failed")
        )
        return writes.transition(
            connection,
            incident_id,
            Status.dead_letter,
            now=now,
            actor=f"agent:{agent}",
            event="dead_lettered",
            detail=detail,
            updates={"attempts": number},
            row=current,
        )
    wait = timedelta(seconds=backoff(number, BACKOFF_BASE_SECONDS, BACKOFF_CAP_SECONDS, rng))
    detail["retry_after"] = (now + wait).isoformat()
    return writes.transition(
        connection,
        incident_id,
        to,
        now=now,
        actor=f"agent:{agent}",
        event="fix_failed",
        detail=detail,
        updates={"attempts": number, "not_before": now + wait},
        row=current,
    )


def attempts_of(connection: Connection, incident_pk: int) -> list[AttemptRecord]:
    rows = connection.execute(
        select(fix_attempts).where(fix_attempts.c.incident_pk == incident_pk).order_by(fix_attempts.c.id)
    ).all()
    return [
        AttemptRecord(number=r.number, agent=r.agent, at=r.at, outcome=r.outcome, permanent=r.permanent, error=r.error)
        for r in rows
    ]


def dead_letters(store: Store, limit: int = 100) -> list[DeadLetter]:
    page = store.list_incidents(status=[Status.dead_letter], limit=limit)
    return [dead_letter(store, item.id) for item in page.items]


def dead_letter(store: Store, incident_id: str) -> DeadLetter:
    with store.read() as connection:
        row = queries.incident_row(connection, incident_id)
        history = attempts_of(connection, row.pk)
    return DeadLetter(incident=to_incident(row), last_error=history[-1].error if history else None, attempts=history)


def retry(store: Store, incident_id: str, *, by: str) -> Incident:
    """A person sends a dead-lettered (or rejected) incident back to the agents, with a fresh budget."""
    current = store.get(incident_id).status
    if current not in RETRYABLE:
        raise NotDeadLettered(incident_id, current.value)
    return store.transition(
        incident_id,
        Status.pending,
        actor=f"human:{by}",
        event="retried",
        expect=set(RETRYABLE),  # still, when a worker moved it since the read above
        updates={"attempts": 0, "not_before": None},
        detail={"by": by},
    )
