"""The incident store on SQLite and PostgreSQL: dedupe, idempotency, queue order, leases, transitions."""

from __future__ import annotations

import pytest

from server.config import HealerConfig
from server.errors import ClaimConflict, IdempotencyConflict, IncidentNotFound, InvalidInput, InvalidTransition
from server.intake.reports import normalize
from server.models import IncidentIn, IngestResult, Status
from server.store import Store
from server.triage.worker import triage_received
from tests.conftest import FakeClock


def report(**fields: object) -> IncidentIn:
    base: dict[str, object] = {"service": "payments", "error": "connection pool exhausted", "severity": "high"}
    base.update(fields)
    return IncidentIn.model_validate(base)


def ingest(store: Store, **fields: object) -> IngestResult:
    """Store a report and let triage route it, as the server's triage worker does."""
    result = store.ingest(normalize(report(**fields), HealerConfig()))
    triage_received(store)
    return result.model_copy(update={"status": store.get(result.id).status})


def test_new_incident_is_received_then_triaged(store: Store) -> None:
    stored = store.ingest(normalize(report(), HealerConfig()))
    assert stored.status == Status.received  # what a 202 says: committed, not yet routed
    assert store.pending().items == []  # agents never see untriaged work
    assert triage_received(store) == 1
    assert store.get(stored.id).status == Status.pending
    assert triage_received(store) == 0


def test_new_incident_is_stored_with_a_readable_id_and_timeline(store: Store) -> None:
    result = ingest(store)
    assert result.id == "INC-20261122-0001"
    assert (result.status, result.duplicate, result.occurrences) == (Status.pending, False, 1)
    incident = store.get(result.id)
    assert (incident.service, incident.severity.value, incident.title) == (
        "payments",
        "high",
        "connection pool exhausted",
    )
    assert [e.event for e in store.timeline(result.id)] == ["received", "triaged", "pending"]


def test_repeat_of_open_fingerprint_counts_an_occurrence(store: Store, clock: FakeClock) -> None:
    first = ingest(store, error="connection pool exhausted after 10 s")
    clock.advance(minutes=5)
    # Numbers in the message differ; the fault is the same, so the fingerprint is too.
    second = ingest(store, error="connection pool exhausted after 30 s")
    assert second.id == first.id and second.duplicate and second.occurrences == 2
    incident = store.get(first.id)
    assert incident.occurrences == 2
    assert incident.last_seen == clock.current
    assert incident.first_seen == clock.current.replace(minute=0)
    assert store.list_incidents().items == [store.list_incidents().items[0]]


def test_repeat_after_close_opens_a_new_incident(store: Store) -> None:
    first = ingest(store)
    store.transition(first.id, Status.resolved, actor="human:ana")
    second = ingest(store)
    assert second.id != first.id and not second.duplicate


def test_explicit_fingerprint_wins_over_the_derived_one(store: Store) -> None:
    a = ingest(store, fingerprint="alert-1", error="one thing")
    b = ingest(store, fingerprint="alert-1", error="something else entirely")
    c = ingest(store, fingerprint="alert-2", error="one thing")
    assert a.id == b.id and b.duplicate
    assert c.id != a.id


def test_idempotency_key_returns_the_first_answer(store: Store) -> None:
    new = normalize(report(), HealerConfig())
    first = store.ingest(new, idempotency_key="k1", request_hash="h1")
    again = store.ingest(new, idempotency_key="k1", request_hash="h1")
    assert again == first  # not counted as an occurrence
    assert store.get(first.id).occurrences == 1
    with pytest.raises(IdempotencyConflict, match="different body"):
        store.ingest(new, idempotency_key="k1", request_hash="other")


def test_pending_is_most_severe_then_oldest_and_pages_with_a_cursor(store: Store, clock: FakeClock) -> None:
    ids = {}
    for name, severity in [("a", "medium"), ("b", "critical"), ("c", "high"), ("d", "critical"), ("e", "low")]:
        ids[name] = ingest(store, error=f"fault {name}", fingerprint=name, severity=severity).id
        clock.advance(seconds=1)
    first = store.pending(limit=2)
    assert [i.id for i in first.items] == [ids["b"], ids["d"]]
    assert first.next_cursor is not None
    second = store.pending(limit=2, cursor=first.next_cursor)
    # "e" is low severity: monitored, not offered to agents.
    assert [i.id for i in second.items] == [ids["c"], ids["a"]]
    assert second.next_cursor is None
    assert store.get(ids["e"]).status == Status.monitoring
    assert [i.id for i in store.pending(severity=first.items[0].severity).items] == [ids["b"], ids["d"]]


def test_bad_cursor_is_a_clear_error(store: Store) -> None:
    with pytest.raises(InvalidInput, match="next_cursor"):
        store.pending(cursor="not-a-cursor")


def test_claim_is_exclusive_and_renewable(store: Store, clock: FakeClock) -> None:
    incident = ingest(store)
    claimed = store.claim(incident.id, agent="cline")
    assert claimed.status == Status.claimed and claimed.claim is not None
    assert claimed.claim.holder == "cline"
    with pytest.raises(ClaimConflict, match="already claimed by cline"):
        store.claim(incident.id, agent="cursor")
    clock.advance(minutes=10)
    renewed = store.claim(incident.id, agent="cline")
    assert renewed.claim is not None and renewed.claim.expires_at == clock.current.replace() + store.lease
    assert store.pending().items == []


def test_expired_lease_frees_the_incident(store: Store, clock: FakeClock) -> None:
    incident = ingest(store)
    store.claim(incident.id, agent="cline")
    clock.advance(minutes=16)
    assert [i.id for i in store.pending().items] == [incident.id]
    assert store.get(incident.id).status == Status.pending
    taken = store.claim(incident.id, agent="cursor")
    assert taken.claim is not None and taken.claim.holder == "cursor"
    events = [(e.actor, e.event) for e in store.timeline(incident.id)]
    assert ("system", "released") in events


@pytest.mark.parametrize(
    ("outcome", "expected", "attempts"),
    [
        ("success", Status.pr_open, 0),  # the agent opened a PR itself
        ("failed", Status.pending, 1),  # back to the queue, one attempt counted
        ("needs_review", Status.escalated, 0),  # a person must look
    ],
)
def test_report_fix_moves_the_lifecycle(store: Store, outcome: str, expected: Status, attempts: int) -> None:
    incident = ingest(store)
    store.claim(incident.id, agent="cline")
    after = store.report_fix(
        incident.id,
        agent="cline",
        outcome=outcome,
        pr_url="https://github.com/acme/payments/pull/7",  # type: ignore[arg-type]
    )
    assert (after.status, after.attempts) == (expected, attempts)
    if outcome == "success":
        assert after.pull_request is not None and after.pull_request.number == 7


def test_failed_attempts_back_off_then_dead_letter(store: Store, clock: FakeClock) -> None:
    incident = ingest(store)
    store.rng.seed(7)
    store.claim(incident.id, agent="cline")
    first = store.report_fix(incident.id, agent="cline", outcome="failed", notes="tests still red")
    assert first.status == Status.pending and first.not_before is not None
    wait = first.not_before - clock.current
    assert 0 <= wait.total_seconds() <= 60  # full jitter: between 0 and base * 2**1
    assert store.pending().items == []  # not offered before its backoff ends
    with pytest.raises(ClaimConflict, match="backing off"):
        store.claim(incident.id, agent="cline")
    for _ in range(2):
        clock.advance(hours=2)
        store.claim(incident.id, agent="cline")
        result = store.report_fix(incident.id, agent="cline", outcome="failed", notes="still red")
    assert (result.status, result.attempts) == (Status.dead_letter, 3)
    events = [e.event for e in store.timeline(incident.id)]
    assert events.count("fix_failed") == 2 and events[-1] == "dead_lettered"


def test_report_without_claim_and_by_another_agent_is_refused(store: Store) -> None:
    incident = ingest(store)
    with pytest.raises(InvalidTransition, match="claim it first"):
        store.report_fix(incident.id, agent="cline", outcome="failed")
    store.claim(incident.id, agent="cline")
    with pytest.raises(ClaimConflict, match="claimed by cline, not cursor"):
        store.report_fix(incident.id, agent="cursor", outcome="failed")


def test_illegal_transition_names_the_state_and_leaves_the_row(store: Store) -> None:
    incident = ingest(store)
    with pytest.raises(InvalidTransition, match=r"is pending; it cannot move to merged\. From pending it may move to"):
        store.transition(incident.id, Status.merged, actor="human:ana")
    assert store.get(incident.id).status == Status.pending
    assert [e.event for e in store.timeline(incident.id)] == ["received", "triaged", "pending"]


@pytest.mark.parametrize(
    "incident_id",
    [
        "INC-20261122-9999",  # no such row
        "INC-20200101-0001",  # the row exists, but not created that day
        "payments-1",  # not an id at all
    ],
)
def test_unknown_incident(store: Store, incident_id: str) -> None:
    ingest(store)
    with pytest.raises(IncidentNotFound, match="no incident"):
        store.get(incident_id)
