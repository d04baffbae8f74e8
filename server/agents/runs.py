"""Agent runs in the store: queue one, read them, cancel one, and the figures the budgets need."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import Connection, func, insert, select, update

from server.agents.outcomes import ACTIVE, ENDED, RunStatus, check
from server.errors import Conflict, RunNotFound
from server.lifecycle import CLAIMABLE
from server.models import Status, format_incident_id
from server.store import Store, queries, writes
from server.store.rows import AnyRow
from server.store.runs_schema import agent_runs
from server.store.schema import incidents

RUNNER = "system:runner"


class AgentRun(BaseModel):
    """One run of an agent CLI for an incident, as the API, the CLI and the dashboard show it."""

    id: int
    incident_id: str
    agent: str
    kind: str = Field(description="first, or follow_up (answering a review's changes requested).")
    trigger: str = Field(description="auto, api, cli, dashboard, review.")
    status: RunStatus
    held: str | None = Field(default=None, description="Why a queued run waits.")
    note: str | None = None
    exit_code: int | None = None
    created_at: datetime
    started_at: datetime | None = None
    ended_at: datetime | None = None
    duration_seconds: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None
    output_bytes: int | None = None
    cancel_requested: bool = False
    transcript: str | None = Field(default=None, description="stdout and stderr, capped and redacted.")

    @property
    def holder(self) -> str:
        return holder(self.id)


def holder(run_id: int) -> str:
    """The claim holder (and MCP agent name) of a run."""
    return f"run:{run_id}"


def _columns(with_transcript: bool) -> list[Any]:
    columns = [c for c in agent_runs.c if c.name not in ("transcript", "token_hash", "usage")]
    if with_transcript:
        columns.append(agent_runs.c.transcript)
    return [*columns, incidents.c.pk.label("ipk"), incidents.c.created_at.label("icreated")]


def to_run(row: AnyRow) -> AgentRun:
    values = {k: v for k, v in row._mapping.items() if k in AgentRun.model_fields}
    return AgentRun(incident_id=format_incident_id(row.ipk, row.icreated), **values)


def _select(with_transcript: bool = False) -> Any:
    return select(*_columns(with_transcript)).join(incidents, incidents.c.pk == agent_runs.c.incident_pk)


def get(store: Store, run_id: int, *, with_transcript: bool = True) -> AgentRun:
    with store.read() as connection:
        row = connection.execute(_select(with_transcript).where(agent_runs.c.id == run_id)).first()
    if row is None:
        raise RunNotFound(str(run_id))
    return to_run(row)


def for_incident(store: Store, incident_id: str) -> list[AgentRun]:
    with store.read() as connection:
        pk = queries.incident_row(connection, incident_id).pk
        rows = connection.execute(_select().where(agent_runs.c.incident_pk == pk).order_by(agent_runs.c.id)).all()
    return [to_run(row) for row in rows]


def recent(store: Store, *, status: list[RunStatus] | None = None, limit: int = 50) -> list[AgentRun]:
    query = _select().order_by(agent_runs.c.id.desc()).limit(limit)
    if status:
        query = query.where(agent_runs.c.status.in_([s.value for s in status]))
    with store.read() as connection:
        return [to_run(row) for row in connection.execute(query).all()]


def active_run(connection: Connection, incident_pk: int) -> AnyRow | None:
    return connection.execute(
        select(agent_runs)
        .where(agent_runs.c.incident_pk == incident_pk, agent_runs.c.status.in_([s.value for s in ACTIVE]))
        .limit(1)
    ).first()


def queue(store: Store, incident_id: str, *, agent: str, trigger: str, kind: str = "first") -> AgentRun:
    """Ask for a run; it starts when its agent has a free slot and the hourly budget allows.

    Refused (409) while the incident has a queued or running run, or is not waiting for an agent.
    """
    now = store.clock.now()
    with store.write() as connection:
        row = queries.incident_row(connection, incident_id, for_update=True)
        found = active_run(connection, row.pk)
        if found is not None:
            raise Conflict(
                f"incident {incident_id} already has run {found.id} ({found.status}); "
                f"follow it with GET /runs/{found.id}, or cancel it with POST /runs/{found.id}/cancel first"
            )
        status = Status(row.status)
        if status not in CLAIMABLE:
            raise Conflict(
                f"incident {incident_id} is {status.value}; an agent run starts only for an incident waiting for "
                "an agent (pending, or changes_requested on its pull request)"
            )
        run_id = connection.execute(
            insert(agent_runs)
            .values(
                incident_pk=row.pk,
                agent=agent,
                kind=kind,
                trigger=trigger,
                status=RunStatus.queued.value,
                cancel_requested=False,
                created_at=now,
            )
            .returning(agent_runs.c.id)
        ).scalar_one()
        writes.record_event(
            connection,
            row.pk,
            now=now,
            actor=RUNNER,
            event="agent_run_queued",
            detail={"run": run_id, "agent": agent, "kind": kind, "trigger": trigger},
            trace_id=row.trace_id,
        )
    return get(store, run_id, with_transcript=False)


def cancel(store: Store, run_id: int, *, by: str) -> AgentRun:
    """A queued run is cancelled at once; a running one is stopped by its supervisor within a second or two."""
    now = store.clock.now()
    with store.write() as connection:
        row = connection.execute(select(agent_runs).where(agent_runs.c.id == run_id)).first()
        if row is None:
            raise RunNotFound(str(run_id))
        status = RunStatus(row.status)
        if status in ENDED:
            raise Conflict(f"run {run_id} has already ended ({status.value}); there is nothing to cancel")
        values: dict[str, Any] = {"cancel_requested": True, "cancelled_by": by}
        if status == RunStatus.queued:
            check(str(run_id), status, RunStatus.cancelled)
            values.update(status=RunStatus.cancelled.value, ended_at=now, note=f"cancelled by {by} before it started")
        connection.execute(update(agent_runs).where(agent_runs.c.id == run_id).values(**values))
        writes.record_event(
            connection,
            row.incident_pk,
            now=now,
            actor=by,
            event="agent_run_cancelled",
            detail={"run": run_id, "was": status.value},
        )
    return get(store, run_id)


def running_counts(connection: Connection) -> dict[str, int]:
    """Running runs per agent."""
    rows = connection.execute(
        select(agent_runs.c.agent, func.count())
        .where(agent_runs.c.status == RunStatus.running.value)
        .group_by(agent_runs.c.agent)
    ).all()
    return {str(agent): int(count) for agent, count in rows}


def started_since(connection: Connection, since: datetime) -> int:
    """Runs started (by any agent) since ``since``: what max_runs_per_hour counts."""
    return int(
        connection.execute(
            select(func.count()).select_from(agent_runs).where(agent_runs.c.started_at >= since)
        ).scalar_one()
    )


def runs_of(connection: Connection, incident_pk: int, *, kind: str | None = None) -> int:
    """Runs that started for an incident (queued and cancelled-before-start ones do not count)."""
    query = (
        select(func.count())
        .select_from(agent_runs)
        .where(agent_runs.c.incident_pk == incident_pk, agent_runs.c.started_at.is_not(None))
    )
    if kind is not None:
        query = query.where(agent_runs.c.kind == kind)
    return int(connection.execute(query).scalar_one())


def hour_ago(now: datetime) -> datetime:
    return now - timedelta(hours=1)
