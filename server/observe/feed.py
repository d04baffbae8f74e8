"""The live feed: new timeline rows, polled from the store and fanned out to every subscriber.

The timeline table is the feed. Each event's id is its timeline row id, so a subscriber that
comes back with the last id it saw gets everything after it from the table, and every process
on one database (SQLite file or PostgreSQL) sees the same events. One poller per process serves
all its subscribers.

On PostgreSQL ids come from a sequence and transactions commit out of order: id 41 can become
visible after id 42. The poller remembers the ids it skipped and asks for them again for
``gap_seconds``, so a slow transaction's event is delivered late rather than never.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, func, or_, select

from server.common.redact import redact_value
from server.models import Status
from server.observe.stages import describe, stage_of
from server.store import Store
from server.store.rows import public_id
from server.store.schema import incidents, timeline

log = logging.getLogger(__name__)

BATCH = 500


class TimelineCursor:
    """Where a reader of the timeline is, and the ids it skipped that may still commit (see above)."""

    def __init__(self, position: int, *, gap_seconds: float = 15.0, max_gaps: int = 10_000) -> None:
        self.position = position
        self.gap_seconds = gap_seconds
        self.max_gaps = max_gaps
        self.gaps: dict[int, float] = {}

    def wanted(self) -> ColumnElement[bool]:
        """The condition for rows not read yet: above the position, or a gap that may have filled."""
        now = time.monotonic()
        for ident, since in list(self.gaps.items()):
            if now - since > self.gap_seconds:
                del self.gaps[ident]  # a rolled-back transaction: that id never commits
        condition: ColumnElement[bool] = timeline.c.id > self.position
        if self.gaps:
            condition = or_(condition, timeline.c.id.in_(sorted(self.gaps)))
        return condition

    def seen(self, ids: list[int]) -> list[int]:
        """Move past rows just read (ascending ids); returns those not delivered before."""
        now = time.monotonic()
        fresh = []
        for ident in ids:
            if ident in self.gaps:
                del self.gaps[ident]
                fresh.append(ident)
                continue
            if ident <= self.position:
                continue
            for missing in range(self.position + 1, ident):
                if len(self.gaps) < self.max_gaps:
                    self.gaps.setdefault(missing, now)
            self.position = ident
            fresh.append(ident)
        return fresh


@dataclass(frozen=True)
class FeedEvent:
    id: int
    data: dict[str, Any]


_COLUMNS = [
    timeline.c.id,
    timeline.c.at,
    timeline.c.actor,
    timeline.c.event,
    timeline.c.detail,
    timeline.c.trace_id,
    incidents.c.pk,
    incidents.c.created_at,
    incidents.c.title,
    incidents.c.service,
    incidents.c.severity,
    incidents.c.status,
    incidents.c.occurrences,
    incidents.c.first_seen,
    incidents.c.last_seen,
    incidents.c.claim_holder,
    incidents.c.pr_url,
    incidents.c.pr_number,
]


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _move(event: str, detail: dict[str, Any]) -> dict[str, str | None] | None:
    """The stages an event moved its incident between, for pages that count by stage."""
    try:
        to = Status(detail["to"]) if "to" in detail else None
        frm = Status(detail["from"]) if "from" in detail else None
    except ValueError:
        return None
    if event == "received":
        return {"from_stage": None, "to_stage": stage_of(to or Status.received).value}
    if frm is None or to is None:
        return None
    return {"from_stage": stage_of(frm).value, "to_stage": stage_of(to).value}


def to_event(row: Any) -> FeedEvent:
    """A timeline row as the feed sends it: the event, and the incident as it is now (for a list row)."""
    incident_id = public_id(row)
    detail = dict(row.detail or {})
    return FeedEvent(
        id=row.id,
        data={
            "id": row.id,
            "incident_id": incident_id,
            "at": _iso(row.at),
            "actor": row.actor,
            "event": row.event,
            "detail": redact_value(detail),
            "move": _move(row.event, detail),
            "trace_id": row.trace_id,
            "incident": {
                "id": incident_id,
                "title": row.title,
                "service": row.service,
                "severity": row.severity,
                **describe(Status(row.status)),
                "occurrences": row.occurrences,
                "first_seen": _iso(row.first_seen),
                "last_seen": _iso(row.last_seen),
                "agent": row.claim_holder,
                "pr_url": row.pr_url,
                "pr_number": row.pr_number,
            },
        },
    )


def read_after(connection: Connection, after: int | ColumnElement[bool], *, limit: int = BATCH) -> list[Any]:
    """Timeline rows with ids above ``after`` (or matching a cursor's condition), oldest first, with their incident."""
    wanted = timeline.c.id > after if isinstance(after, int) else after
    statement = (
        select(*_COLUMNS)
        .join(incidents, incidents.c.pk == timeline.c.incident_pk)
        .where(wanted)
        .order_by(timeline.c.id)
        .limit(limit)
    )
    return list(connection.execute(statement).all())


def newest_id(connection: Connection) -> int:
    return int(connection.execute(select(func.coalesce(func.max(timeline.c.id), 0))).scalar_one())


class TimelineFeed:
    """Polls the timeline every ``interval`` seconds while anyone listens; fans new rows out."""

    def __init__(self, store: Store, *, interval: float = 0.25, gap_seconds: float = 15.0, queue_size: int = 2000):
        self.store = store
        self.interval = interval
        self.gap_seconds = gap_seconds
        self.queue_size = queue_size
        self._subscribers: set[asyncio.Queue[FeedEvent | None]] = set()
        self._task: asyncio.Task[None] | None = None
        self._cursor: TimelineCursor | None = None
        self._closed = False
        self._starting = asyncio.Lock()

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    async def _start(self) -> None:
        async with self._starting:
            if self._task is None or self._task.done():
                # (Re)started after an idle spell: live from now on; a replay reads the table itself.
                newest = await asyncio.to_thread(self._newest)
                self._cursor = TimelineCursor(newest, gap_seconds=self.gap_seconds)
                self._task = asyncio.get_running_loop().create_task(self._run())

    def _newest(self) -> int:
        with self.store.read() as connection:
            return newest_id(connection)

    def _poll(self) -> list[Any]:
        cursor = self._cursor
        assert cursor is not None
        with self.store.read() as connection:
            rows = read_after(connection, cursor.wanted())
        fresh = set(cursor.seen([row.id for row in rows]))
        return [row for row in rows if row.id in fresh]

    async def _run(self) -> None:
        while self._subscribers and not self._closed:
            try:
                rows = await asyncio.to_thread(self._poll)
            except Exception:
                log.warning("reading the timeline for the live feed failed; retrying", exc_info=True)
                rows = []
            for row in rows:
                event = to_event(row)
                for queue in list(self._subscribers):
                    try:
                        queue.put_nowait(event)
                    except asyncio.QueueFull:
                        # A subscriber this far behind is dropped; it reconnects with Last-Event-ID.
                        self._drop(queue)
            if len(rows) < BATCH:
                await asyncio.sleep(self.interval)

    def _drop(self, queue: asyncio.Queue[FeedEvent | None]) -> None:
        self._subscribers.discard(queue)
        with contextlib.suppress(asyncio.QueueFull):
            queue.put_nowait(None)

    def _replay(self, after: int) -> list[Any]:
        with self.store.read() as connection:
            return read_after(connection, after)

    async def subscribe(self, last_id: int | None = None) -> AsyncIterator[FeedEvent]:
        """Events after ``last_id`` (from the table), then live ones; without it, live ones only."""
        queue: asyncio.Queue[FeedEvent | None] = asyncio.Queue(maxsize=self.queue_size)
        self._subscribers.add(queue)
        try:
            await self._start()
            sent: set[int] = set()
            if last_id is not None:
                # Subscribed first, then read: whatever commits meanwhile arrives through the queue.
                after = last_id
                while True:
                    rows = await asyncio.to_thread(self._replay, after)
                    for row in rows:
                        sent.add(row.id)
                        yield to_event(row)
                    if len(rows) < BATCH:
                        break
                    after = rows[-1].id
            while True:
                event = await queue.get()
                if event is None:
                    return
                if event.id in sent:
                    sent.discard(event.id)
                    continue
                yield event
        finally:
            self._subscribers.discard(queue)

    async def close(self) -> None:
        self._closed = True
        for queue in list(self._subscribers):
            self._drop(queue)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
