"""Triage works its backlog worst first (severity, then age) and writes each batch in a few statements."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from sqlalchemy import select, update

from server.config import HealerConfig
from server.intake.reports import normalize
from server.models import IncidentIn, Status
from server.similar import index as search
from server.similar import matches as similar
from server.store import Store
from server.store.schema import incidents, timeline
from server.store.similar_schema import incident_similar
from server.store.triage_schema import outbox, verdicts
from server.triage import batch
from server.triage.decide import Triage
from server.triage.process import TriageProcess
from server.triage.worker import route, triage_received
from tests.conftest import FakeClock


def post(store: Store, severity: str, error: str, **fields: object) -> str:
    body: dict[str, object] = {"service": "payments", "error": error, "severity": severity, "fingerprint": error}
    body.update(fields)
    return store.ingest(normalize(IncidentIn.model_validate(body), HealerConfig())).id


def test_the_backlog_is_read_most_severe_first_then_oldest_first(store: Store, clock: FakeClock) -> None:
    order = ["low", "high", "critical", "medium", "high", "critical", "low"]
    ids = []
    for number, severity in enumerate(order):
        ids.append(post(store, severity, f"fault {number}"))
        clock.advance(seconds=1)
    with store.read() as connection:
        rows = batch.backlog(connection, 100)
        assert [row.severity for row in rows] == ["critical", "critical", "high", "high", "medium", "low", "low"]
        assert [row.pk for row in rows[:2]] == sorted(row.pk for row in rows[:2])  # oldest first within one
        assert [row.severity for row in batch.backlog(connection, 3)] == ["critical", "critical", "high"]


def test_a_critical_posted_behind_a_backlog_is_routed_in_the_next_batch(store: Store) -> None:
    for number in range(30):
        post(store, "medium", f"noise {number}")
    critical = post(store, "critical", "card authorisation failing")
    rules = Triage(HealerConfig())
    assert triage_received(store, rules.decide, approval=rules.approval, limit=5) == 5
    assert store.get(critical).status not in (Status.received, Status.triaged)
    with store.read() as connection:
        queued = connection.execute(select(outbox.c.kind, outbox.c.incident_pk)).all()
    assert len(queued) == 5  # each routed incident announced (no repository maps them: escalated)
    left = store.list_incidents(status=[Status.received], limit=200).items
    assert len(left) == 26


def test_a_batch_writes_what_routing_one_incident_writes(store: Store, clock: FakeClock) -> None:
    rules = Triage(HealerConfig())
    single = post(store, "high", "psycopg2.OperationalError: remaining connection slots are reserved")
    with store.write() as connection:
        row = connection.execute(select(incidents).where(incidents.c.status == "received")).one()
        route(connection, row, rules.decide(store.get(single)), clock.now(), None)
    batched = post(store, "high", "psycopg2.OperationalError: remaining connection slots are reserved", fingerprint="b")
    assert triage_received(store, rules.decide, approval=rules.approval) == 1

    def written(incident_id: str) -> tuple[object, ...]:
        incident = store.get(incident_id)
        events = [(e.event, e.actor, sorted(e.detail)) for e in store.timeline(incident_id)]
        pk = int(incident_id.rsplit("-", 1)[-1])
        with store.read() as connection:
            verdict = connection.execute(select(verdicts.c.category).where(verdicts.c.incident_pk == pk)).all()
            kinds = connection.execute(select(outbox.c.kind).where(outbox.c.incident_pk == pk)).scalars().all()
        fields = (incident.status, incident.category, incident.severity, incident.summary, incident.automation)
        return fields, events, [tuple(v) for v in verdict], kinds

    assert written(batched) == written(single)
    assert store.get(batched).status == Status.escalated  # no repository maps payments


def test_what_a_batch_prepares_before_the_write_is_what_the_routed_rows_read(store: Store, clock: FakeClock) -> None:
    rules = Triage(HealerConfig())
    earlier = post(store, "high", "psycopg2.OperationalError: remaining connection slots are reserved for replication")
    assert triage_received(store, rules.decide, approval=rules.approval) == 1
    ident = post(
        store,
        "high",
        "psycopg2.OperationalError: remaining connection slots are reserved for replication",
        fingerprint="again",
    )
    with store.read() as connection:
        rows = batch.backlog(connection, 10)
        decided = [(row, rules.decide(store.get(ident))) for row in rows]
        found = {row.pk: similar.candidates(connection, batch.as_routed(row, d)) for row, d in decided}
    prepared = batch.prepare(decided, clock.now(), similar_found=found)
    with store.write() as connection:
        assert batch.route_batch(connection, decided, clock.now(), rules.approval, prepared=prepared) == 1
    pk = rows[0].pk
    with store.read() as connection:
        routed = connection.execute(select(incidents).where(incidents.c.pk == pk)).one()
        kept = connection.execute(
            select(incident_similar.c.candidate_pk).where(incident_similar.c.incident_pk == pk)
        ).scalars()
        stored = search.stored_document(connection, pk)
    assert routed.status == Status.escalated.value and routed.category is not None
    assert prepared.documents[pk] == similar.document_for(routed)  # indexed as the routed row reads
    assert stored in (None, prepared.documents[pk])  # PostgreSQL keeps only the vector
    assert sorted(kept) == sorted({pk, int(earlier.rsplit("-", 1)[-1])})  # searched, and the earlier match kept


def test_incidents_alike_in_one_batch_find_what_each_would_find_alone(store: Store, clock: FakeClock) -> None:
    rules = Triage(HealerConfig())
    fault = "psycopg2.OperationalError: remaining connection slots are reserved for replication"
    for number in range(6):
        post(store, "high", fault, fingerprint=f"early {number}")
    assert triage_received(store, rules.decide, approval=rules.approval) == 6
    post(store, "high", fault, fingerprint="late 1")
    between = post(store, "critical", fault, fingerprint="between")
    post(store, "high", fault, fingerprint="late 2")
    post(store, "low", "disk full on /var/lib/postgresql", fingerprint="other")
    # Indexed before the two after it are searched: a repeat that lies between incidents alike.
    assert triage_received(store, rules.decide, approval=rules.approval, limit=1) == 1
    assert store.get(between).status != Status.received
    with store.read() as connection:
        rows = batch.backlog(connection, 10)
        alone = {row.pk: similar.candidates(connection, row) for row in rows}
        together = similar.candidates_for(connection, rows)
    assert len(rows) == 3
    assert together == alone
    assert all(len(found) >= 3 for pk, found in alone.items() if pk != rows[-1].pk)


def test_an_incident_moved_meanwhile_is_left_to_whoever_moved_it(store: Store, clock: FakeClock) -> None:
    first = post(store, "high", "fault one")
    second = post(store, "high", "fault two")
    rules = Triage(HealerConfig())
    with store.read() as connection:
        rows = batch.backlog(connection, 10)
    decided = [(row, rules.decide(store.get(ident))) for row, ident in zip(rows, [first, second], strict=True)]
    store.transition(first, Status.triaged, actor="system")  # another replica took this one
    with store.write() as connection:
        assert batch.route_batch(connection, decided, clock.now(), None) == 1
        events = connection.execute(select(timeline.c.incident_pk, timeline.c.event)).all()
    assert store.get(first).status == Status.triaged
    assert store.get(second).status == Status.escalated
    first_pk = rows[0].pk
    assert [event for pk, event in events if pk == first_pk] == ["received", "triaged"]


def test_secrets_in_a_batch_s_timeline_details_are_redacted(store: Store, clock: FakeClock) -> None:
    post(store, "high", "fault")
    with store.read() as connection:
        rows = batch.backlog(connection, 10)
    from server.triage.worker import Decision

    decision = Decision(status=Status.escalated, route="escalate", reason="token ghp_" + "a" * 36 + " leaked")
    with store.write() as connection:
        batch.route_batch(connection, [(rows[0], decision)], clock.now(), None)
        details = connection.execute(select(timeline.c.detail).where(timeline.c.event == "triaged")).scalars().all()
    assert "ghp_" + "a" * 36 not in str(details)


def test_the_triage_process_routes_what_intake_stored(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'healer.db'}"
    store = Store.open(url)
    ident = post(store, "critical", "card authorisation failing")
    worker = TriageProcess(url, HealerConfig(), idle_seconds=0.5)

    async def until_routed() -> Status:
        job = asyncio.get_running_loop().create_task(worker.run())
        deadline = time.monotonic() + 60
        try:
            while time.monotonic() < deadline:
                status = store.get(ident).status
                if status not in (Status.received, Status.triaged):
                    return status
                worker.wake()
                await asyncio.sleep(0.1)
            return store.get(ident).status
        finally:
            job.cancel()
            await asyncio.gather(job, return_exceptions=True)

    assert asyncio.run(until_routed()) == Status.escalated
    with store.write() as connection:  # the child is gone: nothing else moves incidents now
        connection.execute(update(incidents).values(status="received"))
    time.sleep(1.5)
    assert store.get(ident).status == Status.received
    store.close()
