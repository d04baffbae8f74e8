"""Similar past incidents: the store's full-text index finds the earlier report of the same fault."""

from __future__ import annotations

import random
import tomllib
from pathlib import Path
from typing import Any

import pytest

from server.config import HealerConfig
from server.intake.reports import normalize
from server.models import IncidentIn, Status
from server.similar import index as search
from server.similar import matches as similar
from server.store import Store, queries
from server.triage.worker import triage_received

LABELLED = tomllib.loads((Path(__file__).parent / "data" / "similar_incidents.toml").read_text(encoding="utf-8"))


def _report(store: Store, fields: dict[str, Any]) -> str:
    frames = "\n".join(
        f"{function} ({path}:1)" if " " in line else line
        for line in fields.get("frames", "").splitlines()
        if line.strip()
        for function, _, path in [line.partition(" ")]
    )
    report = IncidentIn(
        service=fields["service"],
        title=fields["title"],
        error=fields["error"],
        severity="high",
        source="test",
        stack_trace=frames or None,
    )
    result = store.ingest(normalize(report, HealerConfig()))
    assert not result.duplicate, f"{fields['title']!r} was counted as a repeat of an open incident"
    return result.id


def test_the_earlier_report_of_the_same_fault_is_in_the_top_three(store: Store) -> None:
    rng = random.Random(7)
    seeds: list[tuple[str, dict[str, Any]]] = [("pair", pair) for pair in LABELLED["pair"]]
    seeds += [("distractor", distractor) for distractor in LABELLED["distractor"]]
    rng.shuffle(seeds)
    past_ids: dict[str, str] = {}
    for kind, seed in seeds:
        incident_id = _report(store, seed["past"] if kind == "pair" else seed)
        if kind == "pair":
            past_ids[seed["id"]] = incident_id
    triage_received(store, limit=1000)
    # The earlier reports are closed by the time the fault comes back, so the later report opens
    # a new incident instead of counting an occurrence of the old one.
    for incident_id in past_ids.values():
        store.transition(incident_id, Status.resolved, actor="human:test")

    misses: list[str] = []
    pairs = list(LABELLED["pair"])
    rng.shuffle(pairs)
    for pair in pairs:
        later_id = _report(store, pair["later"])
        triage_received(store, limit=10)
        with store.read() as connection:
            found = similar.for_incident(connection, later_id)
        if past_ids[pair["id"]] not in [match.id for match in found]:
            misses.append(f"{pair['id']}: got {[(m.id, m.title) for m in found]}")
    hit_rate = 1 - len(misses) / len(pairs)
    assert len(pairs) >= 40 and len({pair["category"] for pair in pairs}) >= 8
    print(f"top-3 hit rate {hit_rate:.0%} over {len(pairs)} pairs; misses: {misses}")
    assert hit_rate >= 0.9, f"top-3 hit rate {hit_rate:.0%}; misses:\n" + "\n".join(misses)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Numbers, sizes and durations are dropped: two reports of one fault index alike.
        ("pool exhausted after 30s (size=5)", ["pool", "exhausted", "after", "size"]),
        ("pool exhausted after 12s (size=10)", ["pool", "exhausted", "after", "size"]),
        # Identifiers are split into their words and kept whole.
        ("QueuePool get_conn", ["queue", "pool", "queuepool", "get", "conn", "getconn"]),
        # A hex id is dropped whole, not split into letter runs ("cbd", "f", "ea").
        ("request cbd8f0ea1 after", ["request", "after"]),
        # uuids, hex ids, addresses and URLs say nothing about the fault.
        ("req 7f3a9c2e-1111-2222-3333-444455556666 from 10.0.0.12 see https://x.example/e/20", ["req", "see"]),
        # Words an FTS5 or tsquery parser would read as operators are plain words here.
        ('NOT "AND" OR (near) -x *', ["near"]),
    ],
)
def test_words_are_normalised_before_indexing(text: str, expected: list[str]) -> None:
    assert search.words(text) == expected


def test_only_earlier_incidents_are_similar_and_verified_fixes_come_first(store: Store) -> None:
    error = "KeyError: 'CHF' in convert_price rates table"
    first = _report(store, {"service": "pricing", "title": "price conversion fails", "error": error})
    triage_received(store)
    store.transition(first, Status.resolved, actor="human:test")
    second = _report(store, {"service": "pricing", "title": "price conversion fails", "error": error + " again"})
    triage_received(store)
    store.record(second, actor="agent:test", event="pr_opened", detail={"summary": "t", "explanation": "e"})
    store.transition(second, Status.resolved, actor="human:test")
    third = _report(store, {"service": "pricing", "title": "price conversion fails", "error": error + " once more"})
    triage_received(store)
    with store.read() as connection:
        for_first = similar.for_incident(connection, first)
        for_third = similar.for_incident(connection, third)
    assert for_first == []  # nothing came before it
    assert [match.id for match in for_third][:2] in ([second, first], [first, second])
    assert all(0 < match.score <= 1 for match in for_third)


def test_the_migration_indexes_incidents_stored_before_it(tmp_path: Path) -> None:
    from alembic import command
    from alembic.config import Config

    from server.store.engine import create_store_engine
    from server.store.migrate import _MIGRATIONS, upgrade

    url = f"sqlite:///{tmp_path / 'healer.db'}"
    store = Store.open(url)
    error = "ZeroDivisionError: division by zero in conversion_rate(visits=0)"
    first = _report(store, {"service": "analytics", "title": "conversion rate fails", "error": error})
    triage_received(store)
    store.transition(first, Status.resolved, actor="human:test")
    second = _report(store, {"service": "analytics", "title": "funnel report fails", "error": error})
    store.close()

    engine = create_store_engine(url)
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0012")  # as a database from before the index
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT name FROM sqlite_master WHERE name = 'incident_search'").all() == []
    upgrade(engine)
    engine.dispose()

    reopened = Store.open(url)
    triage_received(reopened)
    with reopened.read() as connection:
        assert [match.id for match in similar.for_incident(connection, second)] == [first]
    reopened.close()


def test_a_fault_seen_many_times_lists_its_verified_fix_first(store: Store) -> None:
    """Repeats of one fault are found newest first without ranking every match; among them, all
    equally relevant, the verified fix comes first, with its PR."""
    fault = {"service": "orders", "title": "connection pool exhausted in checkout"}
    error = "sqlalchemy.exc.TimeoutError: QueuePool limit of size {n} overflow {m} reached, connection timed out"
    repeats = []
    for n in range(5):
        incident_id = _report(store, {**fault, "error": error.format(n=n + 5, m=n + 10)})
        _report(store, {"service": f"search{'abcde'[n]}", "title": "index rebuild slow", "error": "reindex timed out"})
        triage_received(store)
        if n == 1:
            store.claim(incident_id, agent="fixer")
            store.report_fix(incident_id, agent="fixer", outcome="success", pr_url="https://x.example/o/r/pull/7")
            store.transition(incident_id, Status.merged, actor="human:test")
            store.transition(incident_id, Status.verified, actor="monitor:test")
        else:
            store.transition(incident_id, Status.resolved, actor="human:test")
        repeats.append(incident_id)
    later = _report(store, {**fault, "error": error.format(n=50, m=70)})
    triage_received(store)
    with store.read() as connection:
        row = queries.incident_row(connection, later)
        assert len(search.repeats(connection, similar.document_for(row), before_pk=row.pk)) == 5
        found = similar.for_incident(connection, later)
    assert [match.id for match in found] == [repeats[1], repeats[4], repeats[3]]
    assert found[0].outcome == "verified" and found[0].pr_number == 7 and found[0].title == fault["title"]
    assert [match.outcome for match in found[1:]] == ["open", "open"]
    assert {match.score for match in found} == {1.0}


def test_matches_are_found_at_triage_and_read_with_their_current_outcome(store: Store) -> None:
    """An incident's text does not change after triage, so its matches are found then and kept;
    a read fetches what became of them since (here a fix verified after the later report came in)."""
    from sqlalchemy import delete, select

    from server.store.similar_schema import incident_similar

    error = "ValueError: invalid literal for int() with base 10 in parse_quantity(cart line)"
    first = _report(store, {"service": "cart", "title": "quantity parsing fails", "error": error})
    triage_received(store)
    store.claim(first, agent="fixer")
    store.report_fix(first, agent="fixer", outcome="success", pr_url="https://x.example/o/r/pull/9")
    later = _report(store, {"service": "cart", "title": "cart rejects quantity", "error": f"{error}, line 3"})
    triage_received(store)
    with store.read() as connection:
        first_pk, later_pk = (queries.incident_row(connection, ident).pk for ident in (first, later))
        remembered = connection.execute(
            select(incident_similar.c.candidate_pk).where(incident_similar.c.incident_pk == later_pk)
        ).scalars()
        assert sorted(remembered) == [first_pk, later_pk]  # its match, and itself: "searched"
    with store.read() as connection:
        assert [m.outcome for m in similar.for_incident(connection, later)] == ["open"]

    store.transition(first, Status.merged, actor="human:test")
    store.transition(first, Status.verified, actor="monitor:test")
    with store.read() as connection:
        found = similar.for_incident(connection, later)
    assert [(m.id, m.outcome, m.pr_number) for m in found] == [(first, "verified", 9)]

    # Indexed before matches were kept (no row): searched at read time instead, with the same answer.
    with store.write() as connection:
        connection.execute(delete(incident_similar).where(incident_similar.c.incident_pk == later_pk))
    with store.read() as connection:
        assert similar.for_incident(connection, later) == found
