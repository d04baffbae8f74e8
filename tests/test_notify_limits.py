"""Each channel's rate_per_minute, burst and fold_seconds, applied by the Sender on the store's clock."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from server.config import HealerConfig, parse_config
from server.intake.reports import normalize
from server.models import IncidentIn, Status
from server.notify.config import load_notify
from server.notify.sender import Sender
from server.store import Store
from server.store.triage_schema import outbox_deliveries
from server.triage.worker import triage_received
from tests.conftest import FakeClock
from tests.receivers import Received, receiver


def slack_sender(store: Store, url: str, **limits: Any) -> Sender:
    config = parse_config(
        {"notify": {"channels": {"oncall": {"type": "slack", "url": url, "allow_private": True, **limits}}}}
    )
    return Sender(store, load_notify(config, {}))


def escalate(store: Store, clock: FakeClock, iid: str | None = None, *, service: str = "payments") -> str:
    """Escalate a new incident, or hand ``iid`` back and escalate it again (one more escalated event)."""
    if iid is None:
        iid = store.ingest(
            normalize(IncidentIn(service=service, error=f"boom in {service}", severity="high"), HealerConfig())
        ).id
        triage_received(store)
    if store.get(iid).status == Status.escalated:
        store.transition(iid, Status.pending, actor="human:ana")
    clock.advance(seconds=1)  # a new event id per move
    store.transition(iid, Status.escalated, actor="human:ana", detail={"why": "needs a DBA"})
    return iid


def incident_ids(requests: list[Received]) -> list[str]:
    return [json.loads(r.body)["text"].rsplit(", ", 1)[1].rstrip(")") for r in requests]


def states(store: Store) -> list[str]:
    with store.read() as connection:
        return [row.state for row in connection.execute(select(outbox_deliveries.c.state)).all()]


def test_a_channel_sends_its_burst_then_waits_for_its_rate(store: Store, clock: FakeClock) -> None:
    with receiver() as slack:
        sender = slack_sender(store, slack.url, rate_per_minute=2, burst=2)
        iids = [escalate(store, clock, service=name) for name in ("payments", "ledger", "search")]
        assert sender.run_once() == 2
        assert incident_ids(slack.requests) == iids[:2]
        clock.advance(seconds=29)  # 2 a minute: the next token is 30 s after the burst
        assert sender.run_once() == 0
        clock.advance(seconds=1)
        assert sender.run_once() == 1
        assert incident_ids(slack.requests) == iids  # the third waited; nothing was dropped
        assert states(store) == ["delivered"] * 3


def test_a_storm_within_fold_seconds_is_one_message_then_the_window_opens(store: Store, clock: FakeClock) -> None:
    with receiver() as slack:
        sender = slack_sender(store, slack.url, fold_seconds=60, rate_per_minute=600, burst=100)
        iid = escalate(store, clock)
        sender.run_once()
        for _ in range(20):  # escalated again and again, one second apart
            escalate(store, clock, iid)
            sender.run_once()
        assert len(slack.requests) == 1
        clock.advance(seconds=60)  # the channel's window, not a fixed one
        escalate(store, clock, iid)
        assert sender.run_once() == 1
        _, second = (json.loads(r.body) for r in slack.requests)
        fields = [
            f["text"] for block in second["blocks"] if block["type"] == "section" for f in block.get("fields", [])
        ]
        assert "*Occurrences*\n1 (20 since the last message)" in fields
        assert states(store).count("folded") == 20


def test_fold_seconds_zero_sends_every_repeat(store: Store, clock: FakeClock) -> None:
    with receiver() as slack:
        sender = slack_sender(store, slack.url, fold_seconds=0, rate_per_minute=600, burst=100)
        iid = escalate(store, clock)
        for _ in range(3):
            escalate(store, clock, iid)
        assert sender.run_once() == 4
