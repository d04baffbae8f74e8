"""Group commit: concurrent writes share one durable commit.

One fsync'd commit per request caps a SQLite server at the disk's sync rate. Requests waiting
on the event loop are stored together by a batch function (a few statements for the whole
batch) and committed once; each request is answered only after that commit, so a caller that
gets a result knows its write is on disk. While a commit is being synced, the next batch
gathers. When the database refuses a batch, the same requests are stored one by one, each in
its own savepoint, so one bad request fails alone.

On SQLite the statements run on the event loop thread itself and only the commit (the fsync,
which releases the GIL) runs in a worker thread: handing every batch to another thread makes
the two threads queue for the GIL at each statement, which costs more than the statements.
When another writer (the triage worker, an agent's process) holds the write lock, that batch
waits for it in a worker thread instead, so the loop goes on reading requests meanwhile.
On PostgreSQL the whole batch runs in a worker thread, since every statement waits on the network.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import OperationalError

from server.store.engine import WRITE, WRITE_NOWAIT, is_sqlite

log = logging.getLogger(__name__)

P = TypeVar("P")
R = TypeVar("R")


class GroupCommitter(Generic[P, R]):
    """Batches the writes awaited on one event loop into shared commits."""

    def __init__(
        self,
        engine: Engine,
        *,
        batch: Callable[[Connection, Sequence[P]], list[R | Exception]],
        single: Callable[[Connection, P], R],
        max_batch: int = 1024,
    ) -> None:
        self._engine = engine
        self._batch = batch
        self._single = single
        self._max_batch = max_batch
        self._inline = is_sqlite(engine)
        self._pending: list[tuple[P, asyncio.Future[R]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self.batches = 0
        self.requests = 0
        #: Batches that found the write lock taken and waited for it off the loop.
        self.waited = 0
        #: time.monotonic() of the last write asked for: background work yields while intake is busy.
        self.last_request = 0.0
        #: How many writes the last commit carried: one or two when intake keeps up easily, dozens
        #: when requests queue behind each commit.
        self.last_batch = 0

    def busy(self, within: float = 0.25) -> bool:
        """Whether a write was asked for in the last ``within`` seconds."""
        return time.monotonic() - self.last_request < within

    def load(self, within: float = 0.25) -> int:
        """How many writes the last commit carried, or 0 when none was asked for in ``within`` seconds."""
        return max(self.last_batch, 1) if self.busy(within) else 0

    async def run(self, payload: P) -> R:
        """Await the stored result; it is committed when this returns."""
        self.last_request = time.monotonic()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._pending.append((payload, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = loop.create_task(self._flush())
        return await future

    def close(self) -> None:
        """Nothing to stop: the flusher ends when no write is waiting."""

    async def _flush(self) -> None:
        while self._pending:
            # One turn of the loop first, so requests already readable join this batch.
            await asyncio.sleep(0)
            jobs, self._pending = self._pending[: self._max_batch], self._pending[self._max_batch :]
            self.last_batch = len(jobs)
            payloads = [payload for payload, _ in jobs]
            try:
                outcomes = await self._store(payloads)
            except Exception as exc:  # the database itself is gone: every waiter hears it
                log.exception("storing %d writes failed", len(jobs))
                outcomes = [exc] * len(jobs)
            self.batches += 1
            self.requests += len(jobs)
            for (_, future), outcome in zip(jobs, outcomes, strict=True):
                if future.done():  # the caller went away (client disconnected)
                    continue
                if isinstance(outcome, Exception):
                    future.set_exception(outcome)
                else:
                    future.set_result(outcome)

    async def _store(self, payloads: list[P]) -> list[R | Exception]:
        try:
            if self._inline:
                return await self._inline_batch(payloads)
            return await asyncio.to_thread(self._threaded_batch, payloads)
        except Exception:
            log.info("a batch of %d writes was refused; storing them one by one", len(payloads), exc_info=True)
            return await asyncio.to_thread(self._one_by_one, payloads)

    async def _inline_batch(self, payloads: list[P]) -> list[R | Exception]:
        connection = self._engine.connect().execution_options(**WRITE_NOWAIT)
        try:
            try:
                transaction = connection.begin()
            except OperationalError as exc:
                if "locked" not in str(exc.orig):
                    raise
                connection.close()
                self.waited += 1
                return await asyncio.to_thread(self._threaded_batch, payloads)
            try:
                outcomes = self._batch(connection, payloads)
            except BaseException:
                transaction.rollback()
                raise
            await asyncio.to_thread(_commit, transaction)
            return outcomes
        finally:
            connection.close()

    def _threaded_batch(self, payloads: list[P]) -> list[R | Exception]:
        with self._engine.connect().execution_options(**WRITE) as connection, connection.begin():
            return self._batch(connection, payloads)

    def _one_by_one(self, payloads: list[P]) -> list[R | Exception]:
        outcomes: list[R | Exception] = []
        with self._engine.connect().execution_options(**WRITE) as connection, connection.begin():
            for payload in payloads:
                savepoint = connection.begin_nested()
                try:
                    outcomes.append(self._single(connection, payload))
                    savepoint.commit()
                except Exception as exc:
                    savepoint.rollback()
                    outcomes.append(exc)
        return outcomes


def _commit(transaction: Any) -> None:
    transaction.commit()
