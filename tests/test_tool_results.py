"""A tool's text content is the compact JSON of its structured content, byte for byte, whichever way it was built."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from mcp.types import TextContent

from server.config import HealerConfig
from server.intake import normalize
from server.models import IncidentIn, IncidentSummary, Page, Severity, Status
from server.store import Store
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
    from tools.incidents import PendingIncidents

    for n, severity in enumerate(["critical", "high", "low", "high"]):
        store.ingest(normalize(IncidentIn(service=f"svc-{n}", error=f"fault {n}", severity=severity), HealerConfig()))
        clock.advance(seconds=1.5)  # whole and fractional seconds both appear in the page
    assert triage_received(store) == 4  # three to the queue; the low one is monitored
    for limit in (2, 10):
        items, next_cursor = store.pending_items(limit=limit)
        page = store.pending(limit=limit)
        assert len(items) == min(limit, 3) and (next_cursor is not None) == (limit == 2)
        fast = data_result({"incidents": items, "next_cursor": next_cursor, "next_steps": "s"})
        model = result(PendingIncidents(incidents=page.items, next_cursor=page.next_cursor, next_steps="s"))
        assert fast.structured_content == model.structured_content
        assert fast.content == model.content
        assert PendingIncidents.model_validate(fast.structured_content).incidents == page.items
