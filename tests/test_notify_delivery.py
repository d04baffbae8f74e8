"""Notifications through the outbox to real local receivers: Slack, Teams, Standard Webhooks."""

from __future__ import annotations

import json
import signal
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from standardwebhooks import Webhook

from server.config import HealerConfig, parse_config
from server.intake.reports import normalize
from server.models import IncidentIn, Status
from server.notify.config import load_notify
from server.notify.sender import Sender
from server.notify.signing import generate_secret
from server.store import Store
from server.triage.worker import triage_received
from tests.conftest import FakeClock, healer_env, start_server
from tests.receivers import receiver


def notify_config(slack: str, teams: str, hook: str, secret: str) -> HealerConfig:
    return parse_config(
        {
            "notify": {
                "channels": {
                    # The receivers listen on loopback, which channels refuse unless allow_private is set.
                    "oncall": {"type": "slack", "url": slack, "allow_private": True},
                    "ops": {"type": "teams", "url": teams, "allow_private": True},
                    "audit": {"type": "webhook", "url": hook, "secret": secret, "allow_private": True},
                }
            }
        }
    )


def escalate(store: Store) -> str:
    iid = store.ingest(normalize(IncidentIn(service="payments", error="boom", severity="high"), HealerConfig())).id
    triage_received(store)
    store.transition(iid, Status.escalated, actor="human:ana", detail={"why": "needs a DBA"})
    return iid


def test_each_channel_receives_its_shape(store: Store, clock: FakeClock) -> None:
    clock.current = datetime.now(UTC)  # receivers check the signature's timestamp against their clock
    secret = generate_secret()
    with receiver() as slack, receiver() as teams, receiver() as hook:
        config = notify_config(slack.url + "/s", teams.url + "/t", hook.url + "/h", secret)
        sender = Sender(store, load_notify(config, {}), public_url="https://healer.example.com")
        iid = escalate(store)
        assert sender.run_once() == 3
        (s,) = slack.requests
        body = json.loads(s.body)
        assert iid in body["text"] and body["blocks"]
        (t,) = teams.requests
        card = json.loads(t.body)["attachments"][0]
        assert (
            card["contentType"] == "application/vnd.microsoft.card.adaptive"
            and card["content"]["type"] == "AdaptiveCard"
        )
        (h,) = hook.requests
        data = Webhook(secret).verify(h.body.decode(), h.headers)  # the reference library accepts it
        assert data["type"] == "incident.escalated" and data["data"]["incident_id"] == iid
        assert (
            data["data"]["links"]["incident"] == f"https://healer.example.com/ui/incidents/{iid}"
        )  # the dashboard page
        assert sender.run_once() == 0  # delivered once


def test_a_failing_receiver_gets_the_same_message_until_it_answers(store: Store, clock: FakeClock) -> None:
    clock.current = datetime.now(UTC)
    secret = generate_secret()
    with receiver(answers=[500, 500]) as hook:
        config = parse_config(
            {
                "notify": {
                    "channels": {"audit": {"type": "webhook", "url": hook.url, "secret": secret, "allow_private": True}}
                }
            }
        )
        sender = Sender(store, load_notify(config, {}))
        sender.rng.seed(3)
        escalate(store)
        for _ in range(3):
            sender.run_once()
            clock.advance(seconds=20)  # past the backoff (at most 5 s * 2**attempt)
        assert [r.headers.get("webhook-id") for r in hook.requests] == [hook.requests[0].headers["webhook-id"]] * 3
        Webhook(secret).verify(hook.requests[-1].body.decode(), hook.requests[-1].headers)
        assert sender.run_once() == 0


def test_nothing_is_sent_for_a_rolled_back_transition(store: Store) -> None:
    with receiver() as hook:
        config = parse_config(
            {
                "notify": {
                    "channels": {
                        "audit": {
                            "type": "webhook",
                            "url": hook.url,
                            "secret": generate_secret(),
                            "allow_private": True,
                        }
                    }
                }
            }
        )
        sender = Sender(store, load_notify(config, {}))
        iid = store.ingest(normalize(IncidentIn(service="x", error="e", severity="high"), HealerConfig())).id
        triage_received(store)
        with pytest.raises(RuntimeError), store.write() as connection:
            from server.store import writes

            writes.transition(connection, iid, Status.escalated, now=store.clock.now(), actor="system")
            raise RuntimeError("the transaction fails after the move")
        sender.run_once()
        assert hook.requests == []


@pytest.mark.slow
def test_a_server_killed_before_sending_delivers_after_restart(tmp_path: Path, healer_home: Path) -> None:
    secret = generate_secret()
    with receiver() as probe:
        port = int(probe.url.rsplit(":", 1)[1])
    # Nothing listens on `port` yet: the first attempts fail and the event waits in the outbox.
    (healer_home / "healer.toml").write_text(
        (healer_home / "healer.toml").read_text()
        + f'\n[notify.channels.audit]\ntype = "webhook"\nurl = "http://127.0.0.1:{port}/hook"\nsecret = "{secret}"\n'
        + "allow_private = true\n"
    )
    env = healer_env(healer_home)
    server = start_server(env, tmp_path / "one.log")
    created = httpx.post(f"{server.url}/incidents", json={"service": "ledger", "error": "no repo maps this"}).json()
    deadline = time.monotonic() + 15
    while httpx.get(f"{server.url}/incidents/{created['id']}").json()["status"] != "escalated":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    time.sleep(1.5)  # the sender has tried and failed at least once
    server.process.send_signal(signal.SIGKILL)
    server.process.wait(10)
    server.stop()
    with receiver(port=port) as hook:
        restarted = start_server(env, tmp_path / "two.log")
        try:
            (delivered,) = hook.wait_for(1, timeout=40)
            data = Webhook(secret).verify(delivered.body.decode(), delivered.headers)
            assert data["data"]["incident_id"] == created["id"] and data["type"] == "incident.escalated"
        finally:
            restarted.stop()
