"""The incident store: the only place state lives, shared by every process through the database.

In:      typed writes (new incidents, transitions asked of ``server.lifecycle``, reports, runs).
Out:     domain models (``server.models``) read back; durable commits (``writer``: one fsync'd
         commit shared by concurrent writes).
Imports: ``server.lifecycle``, ``server.common``, ``server.models``, ``server.errors`` and the
         fixer's local-forge records only. What a write must also do above the store (queue a
         notification, count an attempt) is handed in as hooks when the store is built.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError, OperationalError

from server.common.clock import Clock, SystemClock
from server.errors import HealerError, StoreUnavailable
from server.models import (
    FixOutcome,
    Incident,
    IncidentSummary,
    IngestResult,
    NewIncident,
    Page,
    Severity,
    Status,
    TimelineEvent,
)
from server.store import queries, writes
from server.store.engine import WRITE, create_store_engine, is_sqlite
from server.store.hooks import StoreHooks, attach
from server.store.ingest import IngestRequest, ingest_batch, ingest_one
from server.store.migrate import ensure_schema
from server.store.rows import public_id, to_incident
from server.store.writer import GroupCommitter

if TYPE_CHECKING:
    from server.common.settings import Settings

log = logging.getLogger(__name__)


class Store:
    """Incidents, their timelines and leases over one SQLAlchemy engine."""

    def __init__(
        self,
        engine: Engine,
        *,
        clock: Clock | None = None,
        lease_seconds: int = 900,
        max_attempts: int = 3,
        hooks: StoreHooks | None = None,
    ) -> None:
        self.engine = engine
        if hooks is not None:  # else the standard hooks (server.store.hooks)
            attach(engine, hooks)
        self.clock: Clock = clock or SystemClock()
        self.lease = timedelta(seconds=lease_seconds)
        self.max_attempts = max_attempts
        self.rng = random.Random()  # noqa: S311 - retry jitter, not secrets; tests replace it
        self._committer: GroupCommitter[IngestRequest, IngestResult] | None = None
        self._committer_lock = threading.Lock()
        self._last_reap: datetime | None = None
        # The agents' queue reads through one connection held open for it (SQLite only; see queue_read).
        self._queue_connection: Connection | None = None
        self._queue_lock = threading.Lock()

    @classmethod
    def open(
        cls,
        url: str,
        *,
        clock: Clock | None = None,
        synchronous: str = "FULL",
        lease_seconds: int = 900,
        max_attempts: int = 3,
        migrate: bool = True,
        hooks: StoreHooks | None = None,
    ) -> Store:
        engine = create_store_engine(url, synchronous=synchronous)
        if migrate:
            ensure_schema(engine)
        return cls(engine, clock=clock, lease_seconds=lease_seconds, max_attempts=max_attempts, hooks=hooks)

    @classmethod
    def from_settings(cls, settings: Settings, *, hooks: StoreHooks | None = None) -> Store:
        """The store the settings name, with their durability, lease and attempt budget."""
        return cls.open(
            settings.resolved_database_url,
            synchronous=settings.sqlite_synchronous,
            lease_seconds=settings.lease_seconds,
            max_attempts=settings.max_attempts,
            hooks=hooks,
        )

    def close(self) -> None:
        if self._committer is not None:
            self._committer.close()
        with self._queue_lock:
            if self._queue_connection is not None:
                self._queue_connection.close()
                self._queue_connection = None
        self.engine.dispose()

    # -- transactions -------------------------------------------------------------------------

    @contextmanager
    def read(self) -> Iterator[Connection]:
        try:
            with self.engine.connect() as connection:
                yield connection
        except OperationalError as exc:
            raise StoreUnavailable(str(exc.orig)) from exc

    @contextmanager
    def queue_read(self) -> Iterator[Connection]:
        """A connection for reading the agents' queue, which they poll.

        On SQLite, one connection is held open for it: between two polls, checking a pooled
        connection out and back in cost more than the query (bench/bench_mcp_pending.py). The
        queue's statements run on the driver's own cursor in autocommit mode, so each read sees
        every commit made before it and no read transaction stays open. A second thread reading
        at the same moment, and every other database, use the pool.
        """
        if not is_sqlite(self.engine) or not self._queue_lock.acquire(blocking=False):
            with self.read() as connection:
                yield connection
            return
        try:
            if self._queue_connection is None:
                self._queue_connection = self.engine.connect()
            yield self._queue_connection
        except OperationalError as exc:  # a fresh connection next time
            if self._queue_connection is not None:
                self._queue_connection.close()
                self._queue_connection = None
            raise StoreUnavailable(str(exc.orig)) from exc
        finally:
            self._queue_lock.release()

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One transaction that takes the write lock up front; committed on a clean exit."""
        try:
            with self.engine.connect().execution_options(**WRITE) as connection, connection.begin():
                yield connection
        except OperationalError as exc:
            raise StoreUnavailable(str(exc.orig)) from exc

    @property
    def committer(self) -> GroupCommitter[IngestRequest, IngestResult]:
        with self._committer_lock:
            if self._committer is None:
                self._committer = GroupCommitter(self.engine, batch=ingest_batch, single=ingest_one)
            return self._committer

    def ping(self) -> bool:
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            return True
        except DBAPIError:
            return False

    # -- reading ------------------------------------------------------------------------------

    def get(self, incident_id: str) -> Incident:
        with self.read() as connection:
            return queries.get_incident(connection, incident_id)

    def list_incidents(
        self,
        *,
        status: list[Status] | None = None,
        severity: list[Severity] | None = None,
        service: str | None = None,
        cursor: str | None = None,
        limit: int = 50,
    ) -> Page[IncidentSummary]:
        with self.read() as connection:
            return queries.list_incidents(
                connection, status=status, severity=severity, service=service, cursor=cursor, limit=limit
            )

    def pending(
        self,
        *,
        severity: Severity | None = None,
        service: str | None = None,
        cursor: str | None = None,
        limit: int = 10,
    ) -> Page[IncidentSummary]:
        items, next_cursor = self.pending_items(severity=severity, service=service, cursor=cursor, limit=limit)
        return queries.summaries_page(items, next_cursor)

    def pending_items(
        self,
        *,
        severity: Severity | None = None,
        service: str | None = None,
        cursor: str | None = None,
        limit: int = 10,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """The queue page as IncidentSummary's fields, unvalidated (they come from the store), and
        the next cursor: for callers that only serialize them, such as the agents' queue tool."""
        self.release_expired()
        with self.queue_read() as connection:
            return queries.pending_items(
                connection,
                now=self.clock.now(),
                severity=severity,
                service=service,
                cursor=cursor,
                limit=limit,
            )

    def timeline(self, incident_id: str, *, after: int | None = None, limit: int = 500) -> list[TimelineEvent]:
        with self.read() as connection:
            return queries.timeline_of(connection, incident_id, after=after, limit=limit)

    # -- writing ------------------------------------------------------------------------------

    def ingest(
        self, new: NewIncident, *, idempotency_key: str | None = None, request_hash: str | None = None
    ) -> IngestResult:
        request = IngestRequest(new, self.clock.now(), idempotency_key, request_hash)
        with self.write() as connection:
            return ingest_one(connection, request)

    async def ingest_grouped(
        self, new: NewIncident, *, idempotency_key: str | None = None, request_hash: str | None = None
    ) -> IngestResult:
        """The same as ingest, sharing its commit with concurrent writers (for the REST hot path)."""
        try:
            return await self.committer.run(IngestRequest(new, self.clock.now(), idempotency_key, request_hash))
        except OperationalError as exc:
            raise StoreUnavailable(str(exc.orig)) from exc

    def claim(self, incident_id: str, *, agent: str, lease_seconds: int | None = None) -> Incident:
        lease = timedelta(seconds=lease_seconds) if lease_seconds else self.lease
        with self.write() as connection:
            row = writes.claim(connection, incident_id, agent=agent, now=self.clock.now(), lease=lease)
            return to_incident(row)

    def release(self, incident_id: str, *, agent: str, reason: str = "released by the agent") -> Incident:
        with self.write() as connection:
            row = queries.incident_row(connection, incident_id, for_update=True)
            writes.require_holder(row, incident_id, agent)
            row = writes.release(
                connection, incident_id, now=self.clock.now(), actor=f"agent:{agent}", reason=reason, row=row
            )
            return to_incident(row)

    def report_fix(
        self,
        incident_id: str,
        *,
        agent: str,
        outcome: FixOutcome,
        pr_url: str | None = None,
        notes: str | None = None,
    ) -> Incident:
        with self.write() as connection:
            row = writes.report_fix(
                connection,
                incident_id,
                agent=agent,
                outcome=outcome,
                now=self.clock.now(),
                max_attempts=self.max_attempts,
                rng=self.rng,
                pr_url=pr_url,
                notes=notes,
            )
            return to_incident(row)

    def transition(
        self,
        incident_id: str,
        to: Status,
        *,
        actor: str,
        event: str | None = None,
        detail: dict[str, Any] | None = None,
        expect: set[Status] | None = None,
        updates: dict[str, Any] | None = None,
    ) -> Incident:
        with self.write() as connection:
            row = writes.transition(
                connection,
                incident_id,
                to,
                now=self.clock.now(),
                actor=actor,
                event=event,
                detail=detail,
                expect=expect,
                updates=updates,
            )
            return to_incident(row)

    def record(self, incident_id: str, *, actor: str, event: str, detail: dict[str, Any] | None = None) -> int:
        with self.write() as connection:
            row = queries.incident_row(connection, incident_id)
            return writes.record_event(
                connection,
                row.pk,
                now=self.clock.now(),
                actor=actor,
                event=event,
                detail=detail,
                trace_id=row.trace_id,
            )

    def recorder(self, incident_id: str, *, actor: str, event: str, key: str) -> Callable[[str], None]:
        """A callback that records ``event`` with ``{key: value}`` on the incident for each value handed to it,
        for code below the store that must leave a mark as it goes (the fixer, the commit it is about to push)."""

        def note(value: str) -> None:
            self.record(incident_id, actor=actor, event=event, detail={key: value})

        return note

    def release_expired(self) -> int:
        """Give incidents whose lease ran out back to the queue; returns how many.

        Runs at most once a second per process: agents poll the queue, and a lease that
        expired a second ago can wait a second to be offered again.
        """
        now = self.clock.now()
        if self._last_reap is not None and timedelta(0) <= now - self._last_reap < timedelta(seconds=1):
            return 0
        self._last_reap = now
        with self.read() as connection:
            expired = queries.expired_claims(connection, now)
        released = 0
        for row in expired:
            ident = public_id(row)
            try:
                with self.write() as connection:
                    current = queries.incident_row(connection, ident, for_update=True)
                    if current.claim_expires_at is None or current.claim_expires_at > now:
                        continue  # renewed meanwhile
                    writes.release(connection, ident, now=now, actor="system", reason="lease expired", row=current)
                    released += 1
            except HealerError:  # another process released or renewed it first: fine
                log.debug("lease of %s already released", ident, exc_info=True)
        return released
