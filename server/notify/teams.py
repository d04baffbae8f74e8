"""Microsoft Teams: a Workflows webhook message carrying an Adaptive Card (1.4) with a FactSet and link actions."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from server.notify.channel import USER_AGENT, ChannelConfig, OutboundRequest
from server.notify.events import KIND_TITLES, NotificationEvent
from server.notify.text import fit, one_line, teams_markdown

CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
CARD_VERSION = "1.4"
TITLE_MAX = 200
TEXT_MAX = 2000
FACT_MAX = 500
DETAIL_MAX = 3000
ACTIONS_MAX = 6  # Teams shows at most six top-level actions

SEVERITY_COLOR = {"critical": "Attention", "high": "Warning", "medium": "Accent", "low": "Default"}

ACTIONS: tuple[tuple[str, str], ...] = (
    ("incident", "Open incident"),
    ("pull_request", "Pull request"),
    ("runbook", "Runbook"),
    ("dashboard", "Dashboard"),
    ("approve", "Approve"),
    ("deny", "Deny"),
)


class TeamsConfig(ChannelConfig):
    """``[notify.channels.<name>]`` with ``type = "teams"``: ``url`` is the Workflows webhook URL."""

    type: Literal["teams"] = "teams"


def build_card(event: NotificationEvent) -> dict[str, Any]:
    """The Adaptive Card: title, summary, facts, optional detail, and Action.OpenUrl links."""
    facts = [
        {"title": "Severity", "value": event.severity.value},
        {"title": "Status", "value": event.status.value},
        {"title": "Service", "value": fit(event.service, FACT_MAX, teams_markdown)},
        {"title": "Source", "value": fit(event.source, FACT_MAX, teams_markdown)},
        {"title": "Incident", "value": fit(event.incident_id, FACT_MAX, teams_markdown)},
        {"title": "Occurred", "value": event.occurred_at.isoformat()},
    ]
    if event.category is not None:
        facts.insert(2, {"title": "Category", "value": event.category.value})
    if event.occurrences > 1 or event.folded:
        seen = f"{event.occurrences}" + (f" ({event.folded} since the last message)" if event.folded else "")
        facts.append({"title": "Occurrences", "value": seen})
    body: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "text": fit(one_line(f"{KIND_TITLES[event.kind]}: {event.title}"), TITLE_MAX, teams_markdown),
            "weight": "Bolder",
            "size": "Medium",
            "color": SEVERITY_COLOR[event.severity.value],
            "wrap": True,
        },
        {
            "type": "TextBlock",
            "text": fit(event.summary or event.title, TEXT_MAX, teams_markdown),
            "wrap": True,
        },
        {"type": "FactSet", "facts": facts},
    ]
    if event.detail:
        body.append(
            {
                "type": "TextBlock",
                "text": fit(event.detail, DETAIL_MAX, teams_markdown),
                "wrap": True,
                "fontType": "Monospace",
            }
        )
    actions = [
        {"type": "Action.OpenUrl", "title": title, "url": url}
        for field, title in ACTIONS
        if (url := getattr(event.links, field))
    ]
    return {
        "$schema": CARD_SCHEMA,
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "body": body,
        "actions": actions[:ACTIONS_MAX],
        "msteams": {"width": "Full"},
    }


def build_message(event: NotificationEvent) -> dict[str, Any]:
    """The body a Teams Workflows webhook ("post to a channel when a webhook request is received") expects."""
    return {
        "type": "message",
        "attachments": [{"contentType": CARD_CONTENT_TYPE, "contentUrl": None, "content": build_card(event)}],
    }


class TeamsChannel:
    def __init__(self, name: str, config: TeamsConfig) -> None:
        self.name = name
        self.config = config

    def render(self, event: NotificationEvent, *, now: datetime) -> OutboundRequest:
        body = json.dumps(build_message(event), ensure_ascii=False, separators=(",", ":"))
        return OutboundRequest(
            channel=self.name,
            url=self.config.url,
            headers={"content-type": "application/json; charset=utf-8", "user-agent": USER_AGENT},
            body=body.encode("utf-8"),
            idempotency_key=event.id,
        )
