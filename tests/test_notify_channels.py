"""Channels: golden shapes for Slack and Teams, their limits, and escaping of untrusted text in every channel."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import SecretStr

from server.models import Category, Severity, Status
from server.notify.channel import Channel, OutboundRequest
from server.notify.events import EventKind, Links, NotificationEvent, event_id
from server.notify.registry import CHANNEL_TYPES, build_channel
from server.notify.slack import SlackConfig, build_message
from server.notify.teams import TeamsConfig, build_card
from server.notify.teams import build_message as build_teams_message
from server.notify.webhook import WebhookConfig

OCCURRED = datetime(2026, 11, 22, 9, 14, 3, tzinfo=UTC)
NOW = datetime(2026, 11, 22, 9, 15, 0, tzinfo=UTC)
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
LINKS = Links(
    incident="https://healer.example.com/incidents/INC-20261122-0042",
    runbook="https://runbooks.example.com/db-pool",
    dashboard="https://grafana.example.com/d/orders",
    approve="https://healer.example.com/approvals/7/approve",
    deny="https://healer.example.com/approvals/7/deny",
)


def make_event(**overrides: Any) -> NotificationEvent:
    fields: dict[str, Any] = {
        "id": "evt_0123456789abcdef",
        "kind": EventKind.approval_needed,
        "incident_id": "INC-20261122-0042",
        "title": "QueuePool limit reached in POST /orders",
        "service": "orders-api",
        "severity": Severity.critical,
        "status": Status.awaiting_approval,
        "source": "sentry",
        "category": Category.database,
        "summary": "Database connection pool exhausted in orders-api",
        "detail": "the fix touches db/migrations/0042_pool.py",
        "occurrences": 3,
        "occurred_at": OCCURRED,
        "links": LINKS,
    }
    fields.update(overrides)
    return NotificationEvent(**fields)


def channel(kind: str) -> Channel:
    configs = {
        "slack": SlackConfig(url=SecretStr("https://hooks.slack.com/services/T000/B000/XXXX")),
        "teams": TeamsConfig(url=SecretStr("https://prod-00.westus.logic.azure.com/workflows/abc/triggers/manual")),
        "webhook": WebhookConfig(url=SecretStr("https://audit.example.com/hooks/healer"), secret=SecretStr(SECRET)),
    }
    return build_channel(f"{kind}-test", configs[kind])


# ---- Slack ----------------------------------------------------------------------------------


def test_slack_golden_shape() -> None:
    def field(label: str, value: str) -> dict[str, str]:
        return {"type": "mrkdwn", "text": f"*{label}*\n{value}"}

    def button(field_name: str, text: str, url: str, style: str | None = None) -> dict[str, Any]:
        made: dict[str, Any] = {
            "type": "button",
            "text": {"type": "plain_text", "text": text},
            "url": url,
            "action_id": f"healer_{field_name}",
        }
        if style:
            made["style"] = style
        return made

    assert build_message(make_event()) == {
        "text": "[critical] Approval needed: QueuePool limit reached in POST /orders (orders-api, INC-20261122-0042)",
        "blocks": [
            {
                "type": "header",
                "text": {
                    "type": "plain_text",
                    "text": "Approval needed: QueuePool limit reached in POST /orders",
                    "emoji": True,
                },
            },
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": ":red_circle: *<https://healer.example.com/incidents/INC-20261122-0042|INC-20261122-0042>*"
                    " Database connection pool exhausted in orders-api",
                },
            },
            {
                "type": "section",
                "fields": [
                    field("Severity", "critical"),
                    field("Status", "awaiting_approval"),
                    field("Service", "orders-api"),
                    field("Source", "sentry"),
                    field("Category", "database"),
                    field("Occurrences", "3"),
                ],
            },
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": "<!date^1795338843^{date_short_pretty} at {time}|2026-11-22T09:14:03+00:00>"
                        " · approval_needed",
                    }
                ],
            },
            {"type": "section", "text": {"type": "mrkdwn", "text": "```the fix touches db/migrations/0042_pool.py```"}},
            {
                "type": "actions",
                "elements": [
                    button("incident", "Open incident", LINKS.incident or ""),
                    button("runbook", "Runbook", LINKS.runbook or ""),
                    button("dashboard", "Dashboard", LINKS.dashboard or ""),
                    button("approve", "Approve", LINKS.approve or "", "primary"),
                    button("deny", "Deny", LINKS.deny or "", "danger"),
                ],
            },
        ],
    }


def test_slack_mention_only_where_a_person_must_act() -> None:
    def lead(kind: EventKind) -> str:
        text: str = build_message(make_event(kind=kind), mention="<!subteam^S0123>")["blocks"][1]["text"]["text"]
        return text

    assert lead(EventKind.approval_needed).startswith("<!subteam^S0123> :red_circle:")
    assert lead(EventKind.merged).startswith(":red_circle:")


def test_slack_respects_block_kit_limits() -> None:
    huge = make_event(
        title="T" * 10_000,
        summary="&<>" * 5_000,  # every character grows into an entity
        detail="x" * 10_000,
        service="s" * 5_000,
        source="&" * 3_000,
        links=LINKS.model_copy(update={"pull_request": "https://github.com/acme/orders/pull/12"}),
        folded=12_345,
        occurrences=99_999,
    )
    message = build_message(huge)
    blocks = message["blocks"]
    assert len(blocks) <= 50
    assert len(message["text"]) <= 3000
    for block in blocks:
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= 150
        if block["type"] == "section" and "text" in block:
            assert len(block["text"]["text"]) <= 3000
        if block["type"] == "section" and "fields" in block:
            assert len(block["fields"]) <= 10
            assert all(len(item["text"]) <= 2000 for item in block["fields"])
        if block["type"] == "actions":
            assert 1 <= len(block["elements"]) <= 5
            assert all(len(item["text"]["text"]) <= 75 for item in block["elements"])
            assert all(len(item["url"]) <= 3000 for item in block["elements"])
    # six links: split over two actions blocks, none lost
    assert [len(block["elements"]) for block in blocks if block["type"] == "actions"] == [5, 1]
    # a capped text never ends inside an entity
    summary = blocks[1]["text"]["text"]
    assert summary.endswith("…")
    assert ";" in summary[:-1].rsplit("&", 1)[-1]


def test_slack_drops_a_button_whose_url_is_too_long() -> None:
    long_url = "https://runbooks.example.com/" + "a" * 3000
    message = build_message(make_event(links=LINKS.model_copy(update={"runbook": long_url})))
    actions = [
        element["action_id"]
        for block in message["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
    ]
    assert actions == ["healer_incident", "healer_dashboard", "healer_approve", "healer_deny"]


# ---- Teams ----------------------------------------------------------------------------------

KNOWN_ELEMENTS = {"TextBlock", "FactSet", "Container", "ColumnSet", "Image"}


def assert_valid_adaptive_card(card: dict[str, Any]) -> None:
    """The fields the Adaptive Card schema (1.4) requires of what we send."""
    assert card["type"] == "AdaptiveCard"
    assert card["$schema"] == "http://adaptivecards.io/schemas/adaptive-card.json"
    major, minor = (int(part) for part in card["version"].split("."))
    assert (major, minor) >= (1, 4)
    assert isinstance(card["body"], list) and card["body"]
    for element in card["body"]:
        assert element["type"] in KNOWN_ELEMENTS
        if element["type"] == "TextBlock":
            assert isinstance(element["text"], str) and element["text"]
        if element["type"] == "FactSet":
            assert element["facts"]
            for fact in element["facts"]:
                assert set(fact) == {"title", "value"}
                assert isinstance(fact["title"], str) and isinstance(fact["value"], str)
    for action in card.get("actions", []):
        assert action["type"] == "Action.OpenUrl"
        assert isinstance(action["title"], str) and action["title"]
        assert action["url"].startswith("https://")


def test_teams_envelope_and_card() -> None:
    message = build_teams_message(make_event())
    assert set(message) == {"type", "attachments"}
    assert message["type"] == "message"
    (attachment,) = message["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert_valid_adaptive_card(card)
    facts = next(element for element in card["body"] if element["type"] == "FactSet")["facts"]
    assert facts == [
        {"title": "Severity", "value": "critical"},
        {"title": "Status", "value": "awaiting_approval"},
        {"title": "Category", "value": "database"},
        {"title": "Service", "value": "orders-api"},
        {"title": "Source", "value": "sentry"},
        {"title": "Incident", "value": "INC-20261122-0042"},
        {"title": "Occurred", "value": "2026-11-22T09:14:03+00:00"},
        {"title": "Occurrences", "value": "3"},
    ]
    assert [(action["title"], action["url"]) for action in card["actions"]] == [
        ("Open incident", LINKS.incident),
        ("Runbook", LINKS.runbook),
        ("Dashboard", LINKS.dashboard),
        ("Approve", LINKS.approve),
        ("Deny", LINKS.deny),
    ]
    assert card["body"][0]["text"] == "Approval needed: QueuePool limit reached in POST /orders"


def test_teams_card_without_optional_parts_is_still_valid() -> None:
    bare = make_event(category=None, summary=None, detail=None, occurrences=1, links=Links())
    card = build_card(bare)
    assert_valid_adaptive_card(card)
    assert card["actions"] == []
    assert [element["type"] for element in card["body"]] == ["TextBlock", "TextBlock", "FactSet"]


# ---- every channel: a request the sender can send, and untrusted text disarmed ---------------

HOSTILE = make_event(
    title="<!channel> @here pay attention *now* [click](https://evil.example) & `run`",
    summary="<https://evil.example|Reset your password> @everyone ```code``` <@U024BE7LH>",
    service="orders<!here>",
    detail="``` closing the fence <!channel>",
)


@pytest.mark.parametrize("kind", sorted(CHANNEL_TYPES))
def test_render_gives_a_sendable_request(kind: str) -> None:
    request = channel(kind).render(make_event(), now=NOW)
    assert isinstance(request, OutboundRequest)
    assert request.method == "POST"
    assert request.idempotency_key == "evt_0123456789abcdef"
    assert request.headers["content-type"].startswith("application/json")
    assert json.loads(request.body)  # valid JSON, UTF-8
    assert "hooks.slack.com" not in repr(request)  # the URL is a credential: never in reprs or logs


@pytest.mark.parametrize(
    ("kind", "absent", "present"),
    [
        (
            "slack",
            ["<!channel>", "<!here>", "<@U024BE7LH>", "<https://evil.example|", "@here", "@everyone"],
            ["&lt;!channel&gt;", "&lt;!here&gt;", "&amp;", "@\u200bhere", "@\u200beveryone", "<\u200b!channel>"],
        ),
        (
            "teams",
            ["<!channel>", "[click](https://evil.example)", "@here", "*now*"],
            ["\\<!channel\\>", "\\[click\\]", "@\u200bhere", "\\*now\\*", "\\`run\\`"],
        ),
    ],
)
def test_untrusted_text_is_escaped(kind: str, absent: list[str], present: list[str]) -> None:
    body = json.loads(channel(kind).render(HOSTILE, now=NOW).body)
    text_only = "\n".join(_strings(body))
    for needle in absent:
        assert needle not in text_only, needle
    for needle in present:
        assert needle in text_only, needle


def test_slack_code_block_cannot_be_closed_by_the_incident() -> None:
    detail_block = build_message(HOSTILE)["blocks"][4]["text"]["text"]
    assert detail_block.startswith("```") and detail_block.endswith("```")
    assert detail_block[3:-3].count("```") == 0


def test_webhook_body_carries_the_event_verbatim_as_data() -> None:
    request = channel("webhook").render(HOSTILE, now=NOW)
    body = json.loads(request.body)
    assert body["type"] == "incident.approval_needed"
    assert body["timestamp"] == "2026-11-22T09:14:03+00:00"
    assert body["data"]["title"] == HOSTILE.title  # JSON consumers escape for themselves
    assert request.headers["webhook-id"] == HOSTILE.id
    assert request.headers["webhook-timestamp"] == str(int(NOW.timestamp()))


def test_event_ids_are_stable_and_distinct() -> None:
    first = event_id("INC-20261122-0042", EventKind.pr_opened, OCCURRED)
    assert first == event_id("INC-20261122-0042", EventKind.pr_opened, OCCURRED)
    assert first != event_id("INC-20261122-0042", EventKind.merged, OCCURRED)
    assert first.startswith("evt_") and "." not in first


@pytest.mark.parametrize("url", ["javascript:alert(1)", "data:text/html,x", "https://ok.example/a b", "ftp://x"])
def test_links_must_be_http(url: str) -> None:
    with pytest.raises(ValueError, match="expected an http"):
        Links(runbook=url)


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [text for item in value.values() for text in _strings(item)]
    if isinstance(value, list):
        return [text for item in value for text in _strings(item)]
    return []
