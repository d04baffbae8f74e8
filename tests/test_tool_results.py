"""A tool's text content is the compact JSON of its structured content, byte for byte, whichever way it was built."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from mcp.types import TextContent
from pydantic import TypeAdapter

from server.config import HealerConfig
from server.intake.reports import normalize
from server.models import IncidentIn, IncidentSummary, Page, Severity, Status
from server.store import Store
from server.store.driver import from_db_time, json_time
from server.store.engine import is_sqlite
from server.triage.worker import triage_received
from tests.conftest import FakeClock
from tools.results import data_result, result


def test_text_is_the_models_own_compact_json() -> None:
    page = Page[IncidentSummary](
        items=[
            IncidentSummary(
                id="INC-20261122-0042",
                title="Zahlung fehlgeschlagen: «pool» ✗",  # non-ASCII stays as written
                service="payments",
                severity=Severity.high,
                status=Status.pending,
                occurrences=3,
                attempts=0,
                first_seen=datetime(2026, 11, 22, 9, 0, 0, 123456, tzinfo=UTC),
                last_seen=datetime(2026, 11, 22, 9, 5, tzinfo=UTC),
            )
        ],
        next_cursor=None,
    )
    answer = result(page)
    (text,) = answer.content
    assert isinstance(text, TextContent)
    assert text.text == page.model_dump_json()
    assert json.loads(text.text) == answer.structured_content


def test_the_queue_tool_writes_what_the_validated_page_would(store: Store, clock: FakeClock) -> None:
    from tools.incidents import PendingIncidents, fence_titles, fenced_summary

    for n, severity in enumerate(["critical", "high", "low", "high"]):
        store.ingest(normalize(IncidentIn(service=f"svc-{n}", error=f"fault {n}", severity=severity), HealerConfig()))
        clock.advance(seconds=1.5)  # whole and fractional seconds both appear in the page
    assert triage_received(store) == 4  # three to the queue; the low one is monitored
    for limit in (2, 10):
        items, next_cursor = store.pending_items(limit=limit)
        page = store.pending(limit=limit)
        assert len(items) == min(limit, 3) and (next_cursor is not None) == (limit == 2)
        # As the tool writes it: titles fenced in place on the fast path, through the model on the other.
        fast = data_result({"incidents": fence_titles(items), "next_cursor": next_cursor, "next_steps": "s"})
        fenced = [fenced_summary(item) for item in page.items]
        model = result(PendingIncidents(incidents=fenced, next_cursor=page.next_cursor, next_steps="s"))
        assert fast.structured_content == model.structured_content
        assert fast.content == model.content
        assert PendingIncidents.model_validate(fast.structured_content).incidents == fenced
        assert all(item["title"].startswith("<untrusted-incident-data>") for item in items)


@pytest.mark.parametrize(
    "stored",
    [
        "2026-11-22 09:00:00.000000",  # SQLite's text, whole second
        "2026-11-22 09:00:01.500000",  # SQLite's text, with a fraction
        "2026-11-22 09:00:01",  # text without a fraction
        datetime(2026, 11, 22, 9, 0),  # PostgreSQL's naive UTC
        datetime(2026, 11, 22, 9, 0, 1, 250, tzinfo=UTC),
    ],
)
def test_timestamps_are_written_as_pydantic_writes_them(stored: str | datetime) -> None:
    expected = TypeAdapter(datetime).dump_json(from_db_time(stored)).decode().strip('"')
    assert json_time(stored) == expected


def test_the_held_queue_connection_sees_every_later_commit(db_url: str, store: Store) -> None:
    store.ingest(normalize(IncidentIn(service="a", error="first", severity="high"), HealerConfig()))
    triage_received(store)
    assert [i["title"] for i in store.pending_items()[0]] == ["first"]  # the queue connection is open now
    other = Store.open(db_url)  # another process, as far as the database can tell
    try:
        other.ingest(normalize(IncidentIn(service="b", error="second", severity="critical"), HealerConfig()))
        triage_received(other)
        assert [i["title"] for i in store.pending_items()[0]] == ["second", "first"]
        other.claim(store.pending_items()[0][0]["id"], agent="cline")
        assert [i["title"] for i in store.pending_items()[0]] == ["first"]
    finally:
        other.close()


def test_a_second_reader_at_the_same_moment_uses_the_pool(store: Store) -> None:
    with store.queue_read() as held, store.queue_read() as second:
        assert held is not second
    with store.queue_read() as again:
        assert again is held or not is_sqlite(store.engine)  # the same connection, next time
