"""A run's moves in the store: start (claim and token), heartbeat, finish (outcome, claim, attempts), reap."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select, update

from server.agents import runs, tokens
from server.agents.outcomes import RunStatus, check, decide
from server.agents.runs import RUNNER, holder
from server.errors import ClaimConflict, InvalidTransition, RunScopeRefused
from server.fixing.attempts import record_failed_attempt
from server.models import Status
from server.store import Store, queries, writes
from server.store.rows import AnyRow, public_id
from server.store.runs_schema import agent_runs
from server.store.schema import incidents, timeline

#: Timeline events a run's own tool calls write -> what they mean for its outcome.
PUSHED = frozenset({"pr_opened", "pr_updated"})
REPORTED = frozenset({"fix_reported", "needs_review", "fix_failed", "dead_lettered", "approval_requested"})


@dataclass(frozen=True)
class RunScope:
    """What a live run's token may touch: its own incident, as its own claim holder."""

    run_id: int
    incident_id: str
    incident_pk: int
    repo: str | None

    @property
    def agent(self) -> str:
        return holder(self.run_id)


@dataclass(frozen=True)
class Started:
    run: runs.AgentRun
    token: str


@dataclass(frozen=True)
class Ending:
    """What the supervisor saw of a finished process."""

    exit_code: int | None
    timed_out: bool = False
    cancelled: bool = False
    lost: bool = False  # the server running it stopped
    note: str | None = None
    duration_seconds: float = 0.0
    transcript: str = ""
    output_bytes: int = 0
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None
    usage: dict[str, Any] | None = None


def _row(connection: Connection, run_id: int) -> AnyRow:
    row = connection.execute(select(agent_runs).where(agent_runs.c.id == run_id).with_for_update()).first()
    if row is None:
        from server.errors import RunNotFound

        raise RunNotFound(str(run_id))
    return row


def start(store: Store, run_id: int, *, lease_seconds: float) -> Started | None:
    """queued -> running: claim the incident as ``run:<id>`` and mint the token, in one transaction.

    None when the incident was taken or moved meanwhile; the run is then cancelled with a note.
    """
    now = store.clock.now()
    token = tokens.mint()
    with store.write() as connection:
        row = _row(connection, run_id)
        check(str(run_id), RunStatus(row.status), RunStatus.running)
        incident = connection.execute(select(incidents).where(incidents.c.pk == row.incident_pk)).one()
        ident = public_id(incident)
        try:
            writes.claim(connection, ident, agent=holder(run_id), now=now, lease=timedelta(seconds=lease_seconds + 120))
        except ClaimConflict as exc:
            note = f"not started: {exc.message}"
            connection.execute(
                update(agent_runs)
                .where(agent_runs.c.id == run_id)
                .values(status=RunStatus.cancelled.value, ended_at=now, note=note[:2000])
            )
            writes.record_event(
                connection,
                incident.pk,
                now=now,
                actor=RUNNER,
                event="agent_run_ended",
                detail={"run": run_id, "outcome": "cancelled", "why": note[:500]},
                trace_id=incident.trace_id,
            )
            return None
        connection.execute(
            update(agent_runs)
            .where(agent_runs.c.id == run_id)
            .values(
                status=RunStatus.running.value,
                started_at=now,
                heartbeat_at=now,
                held=None,
                token_hash=tokens.digest(token),
            )
        )
        writes.record_event(
            connection,
            incident.pk,
            now=now,
            actor=RUNNER,
            event="agent_run_started",
            detail={"run": run_id, "agent": row.agent, "kind": row.kind},
            trace_id=incident.trace_id,
        )
    return Started(runs.get(store, run_id, with_transcript=False), token)


def scope(store: Store, token: str) -> RunScope:
    """The live run a token belongs to; RunScopeRefused when there is none (unknown, or the run ended)."""
    with store.read() as connection:
        row = connection.execute(
            select(agent_runs.c.id, agent_runs.c.status, incidents.c.pk, incidents.c.created_at, incidents.c.repo)
            .join(incidents, incidents.c.pk == agent_runs.c.incident_pk)
            .where(agent_runs.c.token_hash == tokens.digest(token))
        ).first()
    if row is None:
        raise RunScopeRefused("this run token is not known here; a run token is valid only for the run it was made for")
    if row.status != RunStatus.running.value:
        raise RunScopeRefused(
            f"run {row.id} has ended ({row.status}); its token is no longer valid. Stop: there is nothing more to do."
        )
    from server.models import format_incident_id

    return RunScope(row.id, format_incident_id(row.pk, row.created_at), row.pk, row.repo)


def heartbeat(store: Store, run_id: int) -> bool:
    """Mark the run alive; True when someone asked to cancel it."""
    with store.write() as connection:
        connection.execute(update(agent_runs).where(agent_runs.c.id == run_id).values(heartbeat_at=store.clock.now()))
        flag = connection.execute(select(agent_runs.c.cancel_requested).where(agent_runs.c.id == run_id)).scalar()
    return bool(flag)


def _what_it_did(connection: Connection, incident_pk: int, run_id: int, since: datetime) -> tuple[bool, bool]:
    events = set(
        connection.execute(
            select(timeline.c.event).where(
                timeline.c.incident_pk == incident_pk,
                timeline.c.actor == f"agent:{holder(run_id)}",
                timeline.c.at >= since,
            )
        ).scalars()
    )
    return bool(events & PUSHED), bool(events & REPORTED)


def finish(store: Store, run_id: int, ending: Ending, *, max_runs_per_incident: int) -> runs.AgentRun:
    """running -> its outcome. Anything but fixed gives the claim back and counts an attempt; once the
    incident has had ``max_runs_per_incident`` runs it goes to people."""
    now = store.clock.now()
    with store.write() as connection:
        row = _row(connection, run_id)
        if RunStatus(row.status) != RunStatus.running:
            return runs.get(store, run_id)  # reaped meanwhile
        pushed, reported = _what_it_did(connection, row.incident_pk, run_id, row.started_at)
        outcome = decide(
            pushed=pushed,
            reported=reported,
            cancelled=ending.cancelled,
            timed_out=ending.timed_out,
            exit_code=ending.exit_code,
            lost=ending.lost,
        )
        check(str(run_id), RunStatus.running, outcome)
        connection.execute(
            update(agent_runs)
            .where(agent_runs.c.id == run_id)
            .values(
                status=outcome.value,
                ended_at=now,
                exit_code=ending.exit_code,
                note=(ending.note or "")[:2000] or None,
                duration_seconds=ending.duration_seconds,
                transcript=ending.transcript,
                output_bytes=ending.output_bytes,
                input_tokens=ending.input_tokens,
                output_tokens=ending.output_tokens,
                cost_usd=ending.cost_usd,
                usage=ending.usage,
            )
        )
        _settle(connection, row, outcome, now, store, note=ending.note, limit=max_runs_per_incident)
    return runs.get(store, run_id)


def _settle(
    connection: Connection,
    run: AnyRow,
    outcome: RunStatus,
    now: datetime,
    store: Store,
    *,
    note: str | None,
    limit: int,
) -> None:
    """The incident after a run: the outcome on its timeline, the claim given back, the budget checked."""
    incident = connection.execute(select(incidents).where(incidents.c.pk == run.incident_pk)).one()
    ident = public_id(incident)
    detail: dict[str, Any] = {"run": run.id, "agent": run.agent, "outcome": outcome.value}
    if note:
        detail["why"] = note[:500]
    writes.record_event(
        connection,
        incident.pk,
        now=now,
        actor=RUNNER,
        event="agent_run_ended",
        detail=detail,
        trace_id=incident.trace_id,
    )
    if outcome == RunStatus.fixed:
        return
    current = queries.incident_row(connection, ident, for_update=True)
    if current.claim_holder == holder(run.id) and Status(current.status) in (Status.claimed, Status.fixing):
        current = record_failed_attempt(
            connection,
            ident,
            agent=holder(run.id),
            error=f"agent run {run.id} ({run.agent}) ended {outcome.value}" + (f": {note}" if note else ""),
            permanent=False,
            now=now,
            max_attempts=store.max_attempts,
            rng=store.rng,
            row=current,
        )
    if runs.runs_of(connection, incident.pk) >= limit and Status(current.status) in (
        Status.pending,
        Status.changes_requested,
    ):
        with contextlib.suppress(InvalidTransition):  # moved meanwhile; nothing to escalate
            writes.transition(
                connection,
                ident,
                Status.escalated,
                now=now,
                actor=RUNNER,
                event="agent_runs_spent",
                detail={
                    "runs": limit,
                    "why": f"{limit} agent runs did not fix it (max_runs_per_incident); over to people",
                },
                row=current,
            )


def reap(store: Store, *, stale_after: timedelta, max_runs_per_incident: int, only: list[int] | None = None) -> int:
    """Runs no server is looking after (its heartbeat stopped, or ``only`` these) end ``crashed``; returns how many."""
    now = store.clock.now()
    query = select(agent_runs.c.id).where(agent_runs.c.status == RunStatus.running.value)
    query = (
        query.where(agent_runs.c.id.in_(only))
        if only is not None
        else query.where(agent_runs.c.heartbeat_at < now - stale_after)
    )
    with store.read() as connection:
        ids = list(connection.execute(query).scalars())
    for run_id in ids:
        finish(
            store,
            run_id,
            Ending(exit_code=None, lost=True, note="the server running it stopped before the agent finished"),
            max_runs_per_incident=max_runs_per_incident,
        )
    return len(ids)
