"""Slack: an incoming-webhook message in Block Kit, within Block Kit's limits, with a plain ``text`` fallback."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from server.models import Severity
from server.notify.channel import USER_AGENT, ChannelConfig, OutboundRequest
from server.notify.events import KIND_TITLES, NotificationEvent
from server.notify.text import cap, fit, one_line, slack_code, slack_mrkdwn, slack_plain

# Block Kit limits (api.slack.com/reference/block-kit).
HEADER_MAX = 150
SECTION_TEXT_MAX = 3000
FIELD_TEXT_MAX = 2000
FIELDS_MAX = 10
BUTTON_TEXT_MAX = 75
BUTTON_URL_MAX = 3000
ACTIONS_PER_BLOCK = 5  # older clients render at most 5 elements per actions block
BLOCKS_MAX = 50
FALLBACK_MAX = 3000

SEVERITY_EMOJI: dict[Severity, str] = {
    Severity.critical: ":red_circle:",
    Severity.high: ":large_orange_circle:",
    Severity.medium: ":large_yellow_circle:",
    Severity.low: ":white_circle:",
}

#: (link field, button text, button style) in the order the buttons appear.
BUTTONS: tuple[tuple[str, str, str | None], ...] = (
    ("incident", "Open incident", None),
    ("pull_request", "Pull request", None),
    ("runbook", "Runbook", None),
    ("dashboard", "Dashboard", None),
    ("approve", "Approve", "primary"),
    ("deny", "Deny", "danger"),
)


class SlackConfig(ChannelConfig):
    """``[notify.channels.<name>]`` with ``type = "slack"``: ``url`` is the incoming webhook URL."""

    type: Literal["slack"] = "slack"
    mention: str | None = Field(
        default=None,
        pattern=r"^<(!here|!channel|!subteam\^[A-Z0-9]+|@[A-Z0-9]+)>$",
        description="Who to ping on new_critical and approval_needed, e.g. '<!subteam^S0123>'.",
    )


def _url_for_link(url: str) -> str:
    # Inside <url|label>, these three characters would end the link early.
    return url.replace("|", "%7C").replace("<", "%3C").replace(">", "%3E")


def _field(label: str, value: str) -> dict[str, str]:
    return {
        "type": "mrkdwn",
        "text": f"*{label}*\n" + fit(value, FIELD_TEXT_MAX - len(label) - 3, slack_mrkdwn),
    }


def build_message(event: NotificationEvent, *, mention: str | None = None) -> dict[str, Any]:
    """The webhook body: header, summary, facts, time, detail and link buttons."""
    kind_title = KIND_TITLES[event.kind]
    emoji = SEVERITY_EMOJI[event.severity]
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {
                "type": "plain_text",
                "text": fit(one_line(f"{kind_title}: {event.title}"), HEADER_MAX, slack_plain),
                "emoji": True,
            },
        }
    ]
    if event.links.incident:
        label = f"<{_url_for_link(event.links.incident)}|{slack_mrkdwn(event.incident_id)}>"
    else:
        label = slack_mrkdwn(event.incident_id)
    lead = f"{emoji} *{label}*"
    if mention and event.kind.value in ("new_critical", "approval_needed"):
        lead = f"{mention} {lead}"
    summary = event.summary or event.title
    blocks.append(
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": lead + " " + fit(summary, SECTION_TEXT_MAX - len(lead) - 1, slack_mrkdwn),
            },
        }
    )
    fields = [
        _field("Severity", event.severity.value),
        _field("Status", event.status.value),
        _field("Service", event.service),
        _field("Source", event.source),
    ]
    if event.category is not None:
        fields.append(_field("Category", event.category.value))
    if event.occurrences > 1 or event.folded:
        seen = f"{event.occurrences}" + (f" ({event.folded} since the last message)" if event.folded else "")
        fields.append(_field("Occurrences", seen))
    blocks.append({"type": "section", "fields": fields[:FIELDS_MAX]})
    stamp = int(event.occurred_at.timestamp())
    blocks.append(
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": f"<!date^{stamp}^{{date_short_pretty}} at {{time}}|{event.occurred_at.isoformat()}>"
                    f" · {event.kind.value}",
                }
            ],
        }
    )
    if event.detail:
        blocks.append(
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": "```" + fit(event.detail, SECTION_TEXT_MAX - 6, slack_code) + "```",
                },
            }
        )
    buttons: list[dict[str, Any]] = []
    for field, text, style in BUTTONS:
        url = getattr(event.links, field)
        if not url or len(url) > BUTTON_URL_MAX:
            continue
        button: dict[str, Any] = {
            "type": "button",
            "text": {"type": "plain_text", "text": cap(text, BUTTON_TEXT_MAX)},
            "url": url,
            "action_id": f"healer_{field}",
        }
        if style:
            button["style"] = style
        buttons.append(button)
    for start in range(0, len(buttons), ACTIONS_PER_BLOCK):
        blocks.append({"type": "actions", "elements": buttons[start : start + ACTIONS_PER_BLOCK]})
    fallback = f"[{event.severity.value}] {kind_title}: {one_line(event.title)} ({event.service}, {event.incident_id})"
    return {"text": fit(fallback, FALLBACK_MAX, slack_mrkdwn), "blocks": blocks[:BLOCKS_MAX]}


class SlackChannel:
    def __init__(self, name: str, config: SlackConfig) -> None:
        self.name = name
        self.config = config

    def render(self, event: NotificationEvent, *, now: datetime) -> OutboundRequest:
        body = json.dumps(build_message(event, mention=self.config.mention), ensure_ascii=False, separators=(",", ":"))
        return OutboundRequest(
            channel=self.name,
            url=self.config.url,
            headers={"content-type": "application/json; charset=utf-8", "user-agent": USER_AGENT},
            body=body.encode("utf-8"),
            idempotency_key=event.id,
        )
