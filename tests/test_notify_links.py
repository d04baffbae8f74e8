"""The links a notification carries, from a real alert through the outbox to real Slack and Teams receivers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from server.commands.serve import build_app
from server.common.settings import Settings
from server.config import load_config, parse_config
from server.models import Status
from server.notify.config import load_notify
from server.notify.sender import Sender
from server.store import Store
from tests.conftest import FIXTURES
from tests.receivers import Receiver, receiver

PUBLIC = "https://healer.example.com"
PR = "https://github.com/acme/payments/pull/7"
GRAFANA_DASHBOARD = "https://play.grafana.org/d/ece9fb32-7f71-4be9-bd94-2f23608ae5b9?orgId=1"


@pytest.fixture
def client(healer_home: Path, store: Store) -> Iterator[TestClient]:
    settings = Settings(home=healer_home)
    config = load_config(healer_home / "healer.toml")
    with TestClient(build_app(settings, config, store, run_triage=False), base_url="http://127.0.0.1") as test_client:
        yield test_client


def incident_from(client: TestClient, source: str, fixture: str) -> str:
    body = (FIXTURES / "alerts" / fixture).read_bytes()
    answer = client.post(f"/alerts/{source}", content=body, headers={"content-type": "application/json"})
    assert answer.status_code == 202, answer.text
    (created,) = [a for a in answer.json()["alerts"] if a["outcome"] == "created"]
    return str(created["incident_id"])


def slack_buttons(hook: Receiver) -> dict[str, str]:
    (request,) = hook.requests
    blocks = json.loads(request.body)["blocks"]
    return {
        button["action_id"].removeprefix("healer_"): button["url"]
        for block in blocks
        if block["type"] == "actions"
        for button in block["elements"]
    }


def teams_actions(hook: Receiver) -> dict[str, str]:
    (request,) = hook.requests
    card = json.loads(request.body)["attachments"][0]["content"]
    return {action["title"]: action["url"] for action in card["actions"]}


def sender_for(store: Store, slack: Receiver, teams: Receiver, public_url: str | None) -> Sender:
    channels = {
        "oncall": {"type": "slack", "url": slack.url, "allow_private": True},  # the receivers are on loopback
        "ops": {"type": "teams", "url": teams.url, "allow_private": True},
    }
    return Sender(store, load_notify(parse_config({"notify": {"channels": channels}}), {}), public_url=public_url)


def ask_for_approval(store: Store, iid: str) -> None:
    store.transition(iid, Status.triaged, actor="system")
    store.transition(iid, Status.awaiting_approval, actor="system", detail={"why": "touches migrations"})


# (source, fixture, runbook the alert names, dashboard the alert names)
ALERTS = [
    # Grafana's runbook_url annotation, no dashboard
    ("grafana", "grafana/alert-9-mixed.json", "https://example.com/", None),
    # Grafana's dashboardURL, no runbook
    ("grafana", "grafana/alert_values_v11.json", None, GRAFANA_DASHBOARD),
]


@pytest.mark.parametrize(("source", "fixture", "runbook", "dashboard"), ALERTS)
def test_an_approval_request_links_the_alerts_runbook_and_dashboard_and_the_dashboard_page(
    client: TestClient, store: Store, source: str, fixture: str, runbook: str | None, dashboard: str | None
) -> None:
    iid = incident_from(client, source, fixture)
    with receiver() as slack, receiver() as teams:
        sender = sender_for(store, slack, teams, PUBLIC + "/")
        ask_for_approval(store, iid)
        assert sender.run_once() == 2
        page = f"{PUBLIC}/ui/incidents/{iid}"
        expected = {
            "incident": page,
            **({"runbook": runbook} if runbook else {}),
            **({"dashboard": dashboard} if dashboard else {}),
            "approve": f"{page}#reason-approve",
            "deny": f"{page}#reason-deny",
        }
        assert slack_buttons(slack) == expected
        titles = {"incident": "Open incident", "runbook": "Runbook", "dashboard": "Dashboard"}
        titles |= {"approve": "Approve", "deny": "Deny"}
        assert teams_actions(teams) == {titles[field]: url for field, url in expected.items()}


def test_a_pull_request_message_links_the_pr_and_the_runbook(client: TestClient, store: Store) -> None:
    iid = incident_from(client, "grafana", "grafana/alert-9-mixed.json")
    ask_for_approval(store, iid)
    store.transition(iid, Status.fixing, actor="human:ana")
    with receiver() as slack, receiver() as teams:
        sender = sender_for(store, slack, teams, PUBLIC)
        assert sender.run_once() == 2  # the approval request, not this test's message
        slack.requests.clear()
        teams.requests.clear()
        store.transition(iid, Status.pr_open, actor="system", detail={"url": PR})
        assert sender.run_once() == 2
        page = f"{PUBLIC}/ui/incidents/{iid}"
        assert slack_buttons(slack) == {"incident": page, "pull_request": PR, "runbook": "https://example.com/"}


def test_without_a_public_url_only_absolute_links_from_the_alert_remain(client: TestClient, store: Store) -> None:
    iid = incident_from(client, "grafana", "grafana/alert-9-mixed.json")
    with receiver() as slack, receiver() as teams:
        sender = sender_for(store, slack, teams, None)
        ask_for_approval(store, iid)
        sender.run_once()
        assert slack_buttons(slack) == {"runbook": "https://example.com/"}
