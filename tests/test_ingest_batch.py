"""Group-committed ingest: a batch means the same as the same reports stored one by one."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from sqlalchemy import Connection

from server.config import HealerConfig
from server.errors import IdempotencyConflict
from server.intake.reports import normalize
from server.models import IncidentIn, IngestResult, NewIncident
from server.store import Store
from server.store.writer import GroupCommitter


def new(fingerprint: str, severity: str = "high") -> NewIncident:
    return normalize(
        IncidentIn(service="payments", error=f"fault {fingerprint}", fingerprint=fingerprint, severity=severity),
        HealerConfig(),
    )


async def together(store: Store, *calls: tuple[NewIncident, str | None, str | None]) -> list[IngestResult | Exception]:
    tasks = [store.ingest_grouped(n, idempotency_key=k, request_hash=h) for n, k, h in calls]
    return list(await asyncio.gather(*tasks, return_exceptions=True))


def test_repeats_inside_one_batch_fold_into_one_incident(store: Store) -> None:
    results = asyncio.run(
        together(store, (new("a"), None, None), (new("a"), None, None), (new("b"), None, None), (new("a"), None, None))
    )
    assert store.committer.batches == 1  # all four shared one commit
    a1, a2, b, a3 = results
    assert isinstance(a1, IngestResult) and isinstance(a3, IngestResult) and isinstance(b, IngestResult)
    assert (a1.duplicate, a1.occurrences) == (False, 1)
    assert [r.id for r in (a2, a3)] == [a1.id, a1.id]  # type: ignore[union-attr]
    assert (a3.duplicate, a3.occurrences) == (True, 3)
    assert b.id != a1.id
    assert store.get(a1.id).occurrences == 3
    assert [e.event for e in store.timeline(a1.id)] == ["received", "occurrence", "occurrence"]


def test_repeat_of_a_stored_incident_in_a_batch(store: Store) -> None:
    first = store.ingest(new("a"))
    results = asyncio.run(together(store, (new("a"), None, None), (new("a"), None, None)))
    assert [r.occurrences for r in results] == [2, 3]  # type: ignore[union-attr]
    assert store.get(first.id).occurrences == 3


def test_idempotency_keys_inside_one_batch(store: Store) -> None:
    results = asyncio.run(
        together(store, (new("a"), "k", "h1"), (new("a"), "k", "h1"), (new("b"), "k", "h2"), (new("c"), "k2", "x"))
    )
    first, replay, conflict, other = results
    assert replay == first  # the same key and body: the first answer, not an occurrence
    assert isinstance(conflict, IdempotencyConflict)  # the same key, another body: refused alone
    assert isinstance(other, IngestResult) and not other.duplicate
    assert store.get(first.id).occurrences == 1  # type: ignore[union-attr]
    later = store.ingest(new("a"), idempotency_key="k", request_hash="h1")
    assert later == first


def test_a_refused_batch_is_retried_one_by_one_and_fails_alone(store: Store) -> None:
    calls: list[int] = []

    def batch(connection: Connection, payloads: Sequence[int]) -> list[int | Exception]:
        calls.append(len(payloads))
        raise RuntimeError("the database refused the batch")

    def single(connection: Connection, payload: int) -> int:
        if payload == 2:
            raise ValueError("bad payload")
        return payload * 10

    committer: GroupCommitter[int, int] = GroupCommitter(store.engine, batch=batch, single=single)

    async def run() -> list[int | BaseException]:
        return list(await asyncio.gather(*(committer.run(n) for n in (1, 2, 3)), return_exceptions=True))

    outcomes = asyncio.run(run())
    assert calls == [3]
    assert outcomes[0] == 10 and outcomes[2] == 30
    assert isinstance(outcomes[1], ValueError)


@pytest.mark.parametrize("severity", ["low", "critical"])
def test_batched_and_single_paths_store_the_same_incident(store: Store, severity: str) -> None:
    (batched,) = asyncio.run(together(store, (new("x", severity), None, None)))
    single = store.ingest(new("y", severity))
    one, other = store.get(batched.id), store.get(single.id)  # type: ignore[union-attr]
    strip = {"id", "fingerprint", "title", "error", "trace_id"}
    assert one.model_dump(exclude=strip) == other.model_dump(exclude=strip)


def test_every_answer_of_a_batch_names_the_incident_it_created(store: Store) -> None:
    # Some rows exist first, so the batch's rows are numbered after them.
    store.ingest(new("before-1"))
    store.ingest(new("before-2"))
    names = [f"n{i}" for i in range(12)]
    results = asyncio.run(together(store, *[(new(name), None, None) for name in names]))
    assert store.committer.batches == 1
    for name, result in zip(names, results, strict=True):
        assert isinstance(result, IngestResult) and not result.duplicate
        stored = store.get(result.id)
        assert stored.error == f"fault {name}"
        assert [e.event for e in store.timeline(result.id)] == ["received"]


def test_a_batch_waits_for_another_writer_without_stopping_the_loop(store: Store) -> None:
    import threading
    import time

    from server.store.engine import WRITE, is_sqlite

    if not is_sqlite(store.engine):
        pytest.skip("one write lock for the whole database is SQLite's; PostgreSQL writers do not exclude each other")
    held, release = threading.Event(), threading.Event()

    def other_writer() -> None:  # the triage worker, an agent's process: anyone holding the write lock
        with store.engine.connect().execution_options(**WRITE) as connection, connection.begin():
            held.set()
            release.wait(5)

    async def scenario() -> tuple[int, IngestResult | Exception]:
        writer = threading.Thread(target=other_writer)
        writer.start()
        held.wait(5)
        ticks = 0
        task = asyncio.ensure_future(store.ingest_grouped(new("while-locked")))
        started = time.monotonic()
        while time.monotonic() - started < 0.3:  # the loop keeps running while the batch waits
            await asyncio.sleep(0.01)
            ticks += 1
        assert not task.done()  # nothing is answered before it is committed
        release.set()
        result = await task
        writer.join()
        return ticks, result

    ticks, result = asyncio.run(scenario())
    assert ticks >= 10
    assert store.committer.waited == 1
    assert isinstance(result, IngestResult) and store.get(result.id).error == "fault while-locked"
