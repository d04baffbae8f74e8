"""Datadog's Webhooks integration: its default payload, and the payload template we recommend.

Datadog does not sign: authenticate with a custom header secret (the webhook's "Custom
Headers") or basic auth. ``RECOMMENDED_PAYLOAD`` is the template to paste into the webhook's
"Payload" field; its ``alert_cycle_key`` links a trigger to its recovery, so it is the
identity. The default payload (no cycle key) is still accepted: identity then falls back to
the monitor id found in the message links, and the status to the title's ``[Triggered]`` /
``[Recovered]`` prefix. A monitor test notification (``[TEST]`` in the title) is ``ignored``.
"""

from __future__ import annotations

import builtins
import re
from collections.abc import Iterator
from typing import Any, ClassVar, Literal

from pydantic import Field

from server.intake.sources.auth import HttpAuthConfig, check_http_auth
from server.intake.sources.base import (
    AlertEvent,
    AlertStatus,
    Headers,
    JSONObject,
    ParsedDelivery,
    SeverityMapping,
    VerifyContext,
    nonempty_links,
    resolve_service,
)
from server.intake.sources.errors import PayloadInvalid
from server.intake.sources.payload import Payload, epoch_time, json_type, validate
from server.models import Severity

#: Paste into the Datadog webhook's Payload field. Datadog substitutes each $VARIABLE.
RECOMMENDED_PAYLOAD = """{
  "id": "$ID",
  "alert_cycle_key": "$ALERT_CYCLE_KEY",
  "alert_id": "$ALERT_ID",
  "alert_transition": "$ALERT_TRANSITION",
  "alert_type": "$ALERT_TYPE",
  "alert_priority": "$ALERT_PRIORITY",
  "alert_title": "$ALERT_TITLE",
  "alert_status": "$ALERT_STATUS",
  "alert_metric": "$ALERT_METRIC",
  "alert_query": "$ALERT_QUERY",
  "alert_scope": "$ALERT_SCOPE",
  "aggreg_key": "$AGGREG_KEY",
  "priority": "$PRIORITY",
  "title": "$EVENT_TITLE",
  "body": "$EVENT_MSG",
  "event_type": "$EVENT_TYPE",
  "date": "$DATE",
  "last_updated": "$LAST_UPDATED",
  "hostname": "$HOSTNAME",
  "link": "$LINK",
  "snapshot": "$SNAPSHOT",
  "tags": "$TAGS",
  "org": {"id": "$ORG_ID", "name": "$ORG_NAME"}
}
"""

_LEADING_GROUP = re.compile(r"\s*\[([^\]]*)\]")
_SCOPE_SUFFIX = re.compile(r"\s+on\s+\{.*\}$")
_MONITOR_URL = re.compile(r"https?://[^\s()\[\]]*/monitors[#/](\d+)[^\s()\[\]]*")

_TRANSITIONS: dict[str, AlertStatus] = {
    "triggered": AlertStatus.firing,
    "re-triggered": AlertStatus.firing,
    "warn": AlertStatus.firing,
    "re-warn": AlertStatus.firing,
    "no data": AlertStatus.firing,
    "re-no data": AlertStatus.firing,
    "renotify": AlertStatus.firing,
    "recovered": AlertStatus.resolved,
}


class DatadogConfig(HttpAuthConfig):
    type: Literal["datadog"] = "datadog"
    service_tag: str = Field(default="service", description="The tag whose value names the service.")
    delivery_id_header: str | None = "Idempotency-Key"


class DatadogOrg(Payload):
    id: str | None = None
    name: str | None = None


class DatadogWebhook(Payload):
    id: str | None = None
    title: str | None = None
    body: str | None = None
    event_type: str | None = None
    date: str | None = None
    alert_cycle_key: str | None = None
    alert_id: str | None = None
    alert_transition: str | None = None
    alert_type: str | None = None
    alert_priority: str | None = None
    alert_title: str | None = None
    alert_status: str | None = None
    alert_metric: str | None = None
    alert_scope: str | None = None
    priority: str | None = None
    hostname: str | None = None
    link: str | None = None
    snapshot: str | None = None
    tags: Any = None  # "$TAGS" is a comma-separated string; a hand-written body may send an array
    org: DatadogOrg | None = None


SEVERITY = SeverityMapping(
    source_type="datadog",
    field="alert_priority (P1-P5), then alert_type, then the transition",
    levels={
        "p1": Severity.critical,
        "p2": Severity.high,
        "p3": Severity.medium,
        "p4": Severity.low,
        "p5": Severity.low,
        "error": Severity.high,
        "warning": Severity.medium,
        "warn": Severity.medium,
        "re-warn": Severity.medium,
        "info": Severity.low,
        "success": Severity.low,
    },
    default=Severity.high,
)


def _leading_groups(title: str) -> Iterator[str]:
    """The ``[...]`` groups a Datadog title starts with: ``[P1] [Triggered on {host:a}] CPU`` -> P1, Triggered."""
    position = 0
    while match := _LEADING_GROUP.match(title, position):
        yield _SCOPE_SUFFIX.sub("", match.group(1).strip())
        position = match.end()


def _tags(*sources: object) -> dict[str, str]:
    tags: dict[str, str] = {}
    for path, source in zip(("tags", "alert_scope"), sources, strict=False):
        if source is None:
            continue
        if isinstance(source, str):
            items = source.split(",")
        elif isinstance(source, list) and all(isinstance(item, str) for item in source):
            items = source
        else:
            raise PayloadInvalid(
                path,
                f"expected a comma-separated string or an array of strings, got {json_type(source)}",
                source_type="datadog",
            )
        for item in items:
            key, _, value = item.strip().partition(":")
            if key:
                tags[key] = value
    return tags


def _blank_to_none(payload: DatadogWebhook) -> DatadogWebhook:
    # Datadog substitutes a variable that does not apply with an empty string.
    return payload.model_copy(update={name: None for name, value in payload if value == ""})


class DatadogSource:
    type: ClassVar[str] = "datadog"
    config_model: ClassVar[builtins.type[DatadogConfig]] = DatadogConfig
    severity: ClassVar[SeverityMapping] = SEVERITY

    def verify(self, headers: Headers, body: bytes, config: DatadogConfig, context: VerifyContext) -> None:
        check_http_auth(headers, config)

    def parse(self, body: JSONObject, headers: Headers, config: DatadogConfig) -> ParsedDelivery:
        payload = _blank_to_none(validate(DatadogWebhook, body, source_type=self.type))
        title = payload.title or payload.alert_title
        if not title:
            raise PayloadInvalid(
                "title", "missing; a Datadog webhook body has a title ($EVENT_TITLE)", source_type=self.type
            )
        groups = [group.lower() for group in _leading_groups(title)]
        transition = (payload.alert_transition or "").lower() or next(
            (group for group in groups if group in _TRANSITIONS), ""
        )
        status = _TRANSITIONS.get(transition, AlertStatus.firing)
        reason = None
        if "test" in groups:
            status, reason = AlertStatus.ignored, "a Datadog monitor test notification, not an alert"
        text = (payload.body or "").strip().removeprefix("%%%").removesuffix("%%%").strip()
        monitor = _MONITOR_URL.search(text) or _MONITOR_URL.search(payload.link or "")
        monitor_id = payload.alert_id or (monitor.group(1) if monitor else None)
        identity = payload.alert_cycle_key or (
            f"monitor:{monitor_id}" + (f":{payload.alert_scope}" if payload.alert_scope else "")
            if monitor_id
            else f"event:{payload.id}"
        )
        tags = _tags(payload.tags, payload.alert_scope)
        priority = next((group for group in groups if group in ("p1", "p2", "p3", "p4", "p5")), None)
        alert = AlertEvent(
            source_name=config.name,
            source_type=self.type,
            identity=identity,
            status=status,
            ignored_reason=reason,
            service=resolve_service(config, (tags.get(config.service_tag),)),
            severity=self.severity.resolve(
                payload.alert_priority, priority, payload.alert_type, transition, config=config
            ),
            title=title,
            description=text or None,
            error=payload.alert_status,
            links=nonempty_links(
                source=payload.link or (monitor.group(0) if monitor else None), snapshot=payload.snapshot
            ),
            labels={
                **tags,
                **{
                    key: value
                    for key, value in (
                        ("monitor_id", monitor_id),
                        ("transition", transition),
                        ("metric", payload.alert_metric),
                        ("host", payload.hostname),
                        ("event_type", payload.event_type),
                    )
                    if value
                },
            },
            starts_at=epoch_time(payload.date),
            raw_alert=body,
        )
        return ParsedDelivery(
            source_name=config.name, source_type=self.type, delivery_id=payload.id, alerts=[alert], raw=body
        )
