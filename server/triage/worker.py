"""The triage worker: moves received incidents through triage to their route, off the intake path.

Intake only stores what arrived (a 202 means it is committed as ``received``); this worker
decides what happens next, in batches, shortly after. Received incidents survive a crash
and are triaged when a server starts again; several servers on one database share the work
(each move is conditional on the incident still being received, so exactly one of them makes it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import Connection, insert

from server.approvals.policy import ApprovalPolicy
from server.models import Incident, Severity, Status
from server.similar import matches as similar
from server.store import Store, writes
from server.store.rows import AnyRow, public_id, to_incident
from server.store.triage_schema import verdicts
from server.triage import batch

log = logging.getLogger(__name__)


class Decision(BaseModel):
    """Where a received incident goes, and what triage learned about it."""

    status: Status = Field(description="pending, monitoring, escalated or awaiting_approval")
    route: str
    reason: str
    updates: dict[str, Any] = Field(default_factory=dict, description="Column values to store with the move.")
    detail: dict[str, Any] = Field(default_factory=dict, description="Extra detail for the timeline row.")
    verdict: dict[str, Any] | None = Field(default=None, description="The classifier's verdict row, if any.")


Decide = Callable[[Incident], Decision]


def default_decision(incident: Incident) -> Decision:
    """Without a routing policy: low severity is watched, everything else goes to the agents."""
    if incident.severity == Severity.low:
        return Decision(status=Status.monitoring, route="monitor", reason="low severity is monitored, not auto-fixed")
    return Decision(status=Status.pending, route="auto_fix", reason="default route")


def triage_received(
    store: Store,
    decide: Decide = default_decision,
    *,
    approval: ApprovalPolicy | None = None,
    limit: int = 200,
) -> int:
    """Triage up to ``limit`` received incidents, most severe then oldest first; returns how many moved.

    The decisions are made outside any write transaction (classifying is the slow part), then
    the whole batch is written in one short transaction of a few statements (server.triage.batch),
    so intake never waits long for the write lock. Only incidents still received move: another
    worker or replica that got there first wins, and this one skips them.
    """
    now = store.clock.now()
    with store.read() as connection:
        rows = batch.backlog(connection, limit)
    if not rows:
        return 0
    decided = [(row, decide(to_incident(row))) for row in rows]
    with store.read() as connection:
        # Matches are searched before the write (a ranked search can take a while on a large store).
        found = similar.candidates_for(connection, [batch.as_routed(row, d) for row, d in decided])
    prepared = batch.prepare(decided, now, similar_found=found)  # before the write lock: intake waits on it
    with store.write() as connection:
        return batch.route_batch(connection, decided, now, approval, prepared=prepared)


def route(
    connection: Connection,
    row: AnyRow,
    decision: Decision,
    now: datetime,
    approval: ApprovalPolicy | None,
    *,
    actor: str = "system",
) -> AnyRow:
    """Move one incident through triaged to its route (``actor`` is a person when they asked for a retriage)."""
    ident = public_id(row)
    detail = {"route": decision.route, "why": decision.reason, **decision.detail}
    triaged = writes.transition(
        connection,
        ident,
        Status.triaged,
        now=now,
        actor=actor,
        event="triaged",
        detail=detail,
        updates=decision.updates,
        row=row,
    )
    if decision.verdict is not None:
        connection.execute(insert(verdicts).values(incident_pk=row.pk, at=now, **decision.verdict))
    routed = writes.transition(connection, ident, decision.status, now=now, actor="system", row=triaged)
    # Indexed once classified (the category is known), in the same transaction as the move.
    similar.index(connection, routed)
    if decision.status == Status.awaiting_approval:
        batch.ask_approval(connection, routed, decision.reason, approval, now)
    return routed


#: Intake is saturated when this many writes share a commit: requests are queueing behind each other.
SATURATED_BATCH = 8

#: The longest triage waits between two rounds, however busy intake is: the next round takes the
#: most severe received incident first, so a critical one posted mid-storm is routed within about this.
MAX_PAUSE = 1.0


def pause_after(elapsed: float, intake_load: int) -> float:
    """Seconds to wait after a triage round that took ``elapsed``, given intake's load.

    Accepting what arrives comes first (it is what a 202 promises). While intake is busy triage
    takes a quarter of the time; while requests queue behind each commit it takes a fiftieth,
    since every moment it holds the interpreter is one the intake cannot answer in. It never
    waits longer than MAX_PAUSE, and catches up once intake is quiet. (`healer serve` runs triage
    in a process of its own instead, server.triage.process, where it needs no such share.)
    """
    if intake_load <= 0:
        return 0.0
    share = 0.02 if intake_load >= SATURATED_BATCH else 0.25
    return min(MAX_PAUSE, elapsed * (1 - share) / share)


class TriageWorker:
    """Runs triage whenever intake says something arrived, and every few seconds regardless; also
    escalates approval requests nobody answered in time."""

    def __init__(
        self,
        store: Store,
        decide: Decide = default_decision,
        *,
        approval: ApprovalPolicy | None = None,
        idle_seconds: float = 2.0,
        intake_load: Callable[[], int] = lambda: 0,
        batch: int = 50,
    ) -> None:
        self.store = store
        self.decide = decide
        self.approval = approval
        self.idle_seconds = idle_seconds
        self.intake_load = intake_load
        self.batch = batch
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    def _expire(self) -> None:
        from server.approvals import records as approvals

        approvals.expire_due(self.store)

    async def run(self) -> None:
        while True:
            started = time.monotonic()
            try:
                done = await asyncio.to_thread(
                    triage_received, self.store, self.decide, approval=self.approval, limit=self.batch
                )
                await asyncio.to_thread(self._expire)
            except Exception:
                log.exception("triage failed; retrying shortly")
                done = 0
            if done:
                pause = pause_after(time.monotonic() - started, self.intake_load())
                if pause:
                    await asyncio.sleep(pause)
                continue  # more may be waiting
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.idle_seconds)
            self._wake.clear()
