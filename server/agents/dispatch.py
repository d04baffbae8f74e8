"""Which runs start when: auto dispatch of routed incidents, follow-ups on changes requested, and budgets.

Runs are asked for by writing a queued row (REST, CLI, dashboard, and this loop for auto dispatch and
follow-ups), so any process may ask and the server that runs agents starts them. A queued run starts
when its agent has a free slot (``max_concurrent``) and fewer than ``max_runs_per_hour`` runs started
in the past hour; until then it says on its incident's timeline which budget holds it back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from sqlalchemy import and_, exists, select, update

from server.agents import lifecycle, runs
from server.agents.config import AgentsConfig
from server.agents.outcomes import ACTIVE, RunStatus
from server.agents.runner import STALE_AFTER, Runner
from server.agents.runs import RUNNER
from server.errors import HealerError
from server.models import Status
from server.store import Store, writes
from server.store.rows import public_id
from server.store.runs_schema import agent_runs
from server.store.schema import incidents

log = logging.getLogger(__name__)

_SCAN = 500


def _has_active_run() -> Any:
    return exists().where(
        and_(agent_runs.c.incident_pk == incidents.c.pk, agent_runs.c.status.in_([s.value for s in ACTIVE]))
    )


def queue_routed(store: Store, agents: AgentsConfig) -> int:
    """With ``auto``: a queued run for every incident waiting for an agent that has none; returns how many."""
    now = store.clock.now()
    query = (
        select(incidents)
        .where(incidents.c.status == Status.pending.value, ~_has_active_run())
        .where((incidents.c.not_before.is_(None)) | (incidents.c.not_before <= now))
        .order_by(incidents.c.pk)
        .limit(_SCAN)
    )
    with store.read() as connection:
        rows = connection.execute(query).all()
    queued = 0
    for row in rows:
        try:
            agent = agents.choose(service=row.service, category=row.category)
            runs.queue(store, public_id(row), agent=agent.name, trigger="auto")
            queued += 1
        except HealerError as exc:  # taken or moved meanwhile
            log.debug("not queued: %s", exc.message)
    return queued


def queue_follow_ups(store: Store, agents: AgentsConfig) -> int:
    """A follow-up run for each pull request a run opened whose reviewers asked for changes, up to
    ``review_rounds`` follow-ups; after that the incident goes to people."""
    fixed_by_a_run = exists().where(
        and_(agent_runs.c.incident_pk == incidents.c.pk, agent_runs.c.status == RunStatus.fixed.value)
    )
    query = (
        select(incidents)
        .where(incidents.c.status == Status.changes_requested.value, fixed_by_a_run, ~_has_active_run())
        .where((incidents.c.not_before.is_(None)) | (incidents.c.not_before <= store.clock.now()))
        .order_by(incidents.c.pk)
        .limit(_SCAN)
    )
    with store.read() as connection:
        rows = connection.execute(query).all()
    queued = 0
    rounds = agents.dispatch.review_rounds
    for row in rows:
        ident = public_id(row)
        with store.read() as connection:
            done = runs.runs_of(connection, row.pk, kind="follow_up")
        try:
            if done >= rounds:
                store.transition(
                    ident,
                    Status.escalated,
                    actor=RUNNER,
                    event="review_rounds_spent",
                    detail={
                        "why": f"{done} follow-up runs answered reviews (review_rounds = {rounds}); over to people"
                    },
                    expect={Status.changes_requested},
                )
                continue
            agent = agents.choose(service=row.service, category=row.category)
            runs.queue(store, ident, agent=agent.name, trigger="review", kind="follow_up")
            queued += 1
        except HealerError as exc:
            log.debug("no follow-up: %s", exc.message)
    return queued


def request_run(
    store: Store, agents: AgentsConfig, incident_id: str, *, agent: str | None = None, trigger: str
) -> runs.AgentRun:
    """Ask for a run now (REST, CLI, dashboard): the agent asked for, else the one the rules choose."""
    if not agents.enabled:
        from server.errors import AgentNotConfigured

        raise AgentNotConfigured(agent or "", ())
    incident = store.get(incident_id)
    chosen = agents.choose(
        service=incident.service, category=incident.category.value if incident.category else None, asked=agent
    )
    kind = "follow_up" if incident.status == Status.changes_requested else "first"
    return runs.queue(store, incident_id, agent=chosen.name, trigger=trigger, kind=kind)


def _hold(store: Store, run: Any, why: str) -> None:
    """Say on the incident's timeline why its run waits, once per reason."""
    if run.held == why:
        return
    with store.write() as connection:
        connection.execute(update(agent_runs).where(agent_runs.c.id == run.id).values(held=why))
        writes.record_event(
            connection,
            run.incident_pk,
            now=store.clock.now(),
            actor=RUNNER,
            event="agent_run_held",
            detail={"run": run.id, "agent": run.agent, "why": why},
        )


async def start_queued(store: Store, agents: AgentsConfig, runner: Runner) -> int:
    """Start the queued runs the budgets allow, oldest first; hold the rest, saying why."""

    def load() -> tuple[list[Any], dict[str, int], int]:
        with store.read() as connection:
            queued: list[Any] = list(
                connection.execute(
                    select(
                        agent_runs.c.id,
                        agent_runs.c.agent,
                        agent_runs.c.held,
                        agent_runs.c.incident_pk,
                        incidents.c.not_before,
                    )
                    .join(incidents, incidents.c.pk == agent_runs.c.incident_pk)
                    .where(agent_runs.c.status == RunStatus.queued.value)
                    .order_by(agent_runs.c.id)
                    .limit(_SCAN)
                ).all()
            )
            return (
                queued,
                runs.running_counts(connection),
                runs.started_since(connection, runs.hour_ago(store.clock.now())),
            )

    queued, running, this_hour = await asyncio.to_thread(load)
    limit = agents.dispatch.max_runs_per_hour
    started = 0
    for run in queued:
        agent = agents.agents.get(run.agent)
        if agent is None:
            await asyncio.to_thread(_hold, store, run, f"agent {run.agent!r} is no longer configured")
            continue
        now = store.clock.now()
        if run.not_before is not None and run.not_before > now:
            why = f"backing off after a failed attempt until {run.not_before:%Y-%m-%dT%H:%M:%SZ}"
            await asyncio.to_thread(_hold, store, run, why)
            continue
        if this_hour >= limit:
            why = f"max_runs_per_hour: {this_hour} runs started in the past hour (limit {limit})"
            await asyncio.to_thread(_hold, store, run, why)
            continue
        if running.get(run.agent, 0) >= agent.max_concurrent:
            why = f"max_concurrent: {agent.max_concurrent} run(s) of {run.agent} already running"
            await asyncio.to_thread(_hold, store, run, why)
            continue
        if await runner.start(run.id, agent):
            running[run.agent] = running.get(run.agent, 0) + 1
            this_hour += 1
            started += 1
    return started


class Dispatcher:
    """The background job inside `healer serve` that turns queued runs into running agents."""

    def __init__(self, store: Store, agents: AgentsConfig, runner: Runner, *, interval: float = 1.0) -> None:
        self.store = store
        self.agents = agents
        self.runner = runner
        self.interval = interval
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def tick(self) -> None:
        await asyncio.to_thread(
            lifecycle.reap,
            self.store,
            stale_after=STALE_AFTER,
            max_runs_per_incident=self.agents.dispatch.max_runs_per_incident,
        )
        if self.agents.dispatch.auto:
            await asyncio.to_thread(queue_routed, self.store, self.agents)
        if self.agents.dispatch.review_rounds:
            await asyncio.to_thread(queue_follow_ups, self.store, self.agents)
        await start_queued(self.store, self.agents, self.runner)

    async def run(self) -> None:
        try:
            while True:
                try:
                    await self.tick()
                except Exception:
                    log.exception("dispatch failed; trying again shortly")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self.interval)
                self._wake.clear()
        finally:
            await self.runner.close()
