"""Group commit: concurrent writes share one durable commit, each isolated in its own savepoint.

One fsync'd commit per request caps a SQLite server at the disk's sync rate. The writer
thread takes every job waiting in its queue, runs each inside a SAVEPOINT of one
transaction (a failing job rolls back alone), commits once, and only then resolves each
job's future: a caller that gets a result knows its write is on disk.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine

from server.store.engine import WRITE

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass
class _Job:
    work: Callable[[Connection], Any]
    future: Future[Any] = field(default_factory=Future)


_STOP = object()


class GroupCommitter:
    """A single writer thread that batches jobs into shared commits."""

    def __init__(self, engine: Engine, *, max_batch: int = 256) -> None:
        self._engine = engine
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[_Job | object] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="healer-group-commit", daemon=True)
        self._started = False
        self._lock = threading.Lock()
        self.batches = 0
        self.jobs = 0

    def submit(self, work: Callable[[Connection], T]) -> Future[T]:
        with self._lock:
            if not self._started:
                self._thread.start()
                self._started = True
        job = _Job(work)
        self._queue.put(job)
        return job.future

    async def run(self, work: Callable[[Connection], T]) -> T:
        """Await ``work``'s result; it is committed when this returns."""
        return await asyncio.wrap_future(self.submit(work))

    def close(self) -> None:
        with self._lock:
            if not self._started:
                return
        self._queue.put(_STOP)
        self._thread.join(timeout=10)

    def _take_batch(self) -> tuple[list[_Job], bool]:
        first = self._queue.get()
        if first is _STOP:
            return [], True
        batch: list[_Job] = [first]  # type: ignore[list-item]
        stop = False
        while len(batch) < self._max_batch:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is _STOP:
                stop = True
                break
            batch.append(item)  # type: ignore[arg-type]
        return batch, stop

    def _run(self) -> None:
        while True:
            batch, stop = self._take_batch()
            if batch:
                self._commit(batch)
            if stop:
                return

    def _commit(self, batch: list[_Job]) -> None:
        outcomes: list[tuple[_Job, Any, BaseException | None]] = []
        try:
            with self._engine.connect().execution_options(**WRITE) as connection, connection.begin():
                for job in batch:
                    savepoint = connection.begin_nested()
                    try:
                        value = job.work(connection)
                    except Exception as exc:
                        savepoint.rollback()
                        outcomes.append((job, None, exc))
                    else:
                        savepoint.commit()
                        outcomes.append((job, value, None))
        except Exception as exc:
            log.exception("group commit of %d writes failed", len(batch))
            for job in batch:
                if not job.future.done():
                    job.future.set_exception(exc)
            return
        self.batches += 1
        self.jobs += len(batch)
        for job, value, error in outcomes:
            if error is not None:
                job.future.set_exception(error)
            else:
                job.future.set_result(value)
