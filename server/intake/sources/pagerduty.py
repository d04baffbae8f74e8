"""PagerDuty: v3 webhooks (incident events) and Events API v2 bodies (also sent by Kestra's PagerDuty tasks).

v3 deliveries carry ``X-PagerDuty-Signature: v1=<hex>[,v1=<hex>...]``, HMAC-SHA256 of the raw
body; any one signature matching any configured secret admits it, so secrets can rotate.
Events API v2 bodies are not signed: their ``routing_key`` must be one of ``routing_keys``.
Identity is the incident id (v3) or the ``dedup_key`` (Events API v2).
"""

from __future__ import annotations

import builtins
import hashlib
import json
from datetime import datetime
from typing import Any, ClassVar, Literal

from pydantic import Field

from server.common.credentials import Secret
from server.intake.sources.auth import any_signature_matches, same
from server.intake.sources.base import (
    AlertEvent,
    AlertStatus,
    Headers,
    JSONObject,
    ParsedDelivery,
    SeverityMapping,
    SourceConfig,
    VerifyContext,
    nonempty_links,
    resolve_service,
)
from server.intake.sources.errors import PayloadInvalid, SourceUnauthorized
from server.intake.sources.payload import Payload, decode_object, validate
from server.models import Severity


class PagerDutyConfig(SourceConfig):
    type: Literal["pagerduty"] = "pagerduty"
    signing_secrets: list[Secret] = Field(
        default_factory=list,
        description="v3 webhook subscription secrets (list the old and new while rotating).",
    )
    routing_keys: list[Secret] = Field(
        default_factory=list, description="Events API v2 integration keys this source accepts."
    )

    def verification(self) -> list[str]:
        checks = []
        if self.signing_secrets:
            checks.append("X-PagerDuty-Signature HMAC")
        if self.routing_keys:
            checks.append("Events API v2 routing_key")
        return checks


class PdReference(Payload):
    id: str | None = None
    summary: str | None = None
    html_url: str | None = None


class PdData(Payload):
    id: str | None = None
    type: str | None = None
    title: str | None = None
    status: str | None = None
    urgency: str | None = None
    number: int | None = None
    html_url: str | None = None
    service: PdReference | None = None
    priority: PdReference | None = None
    escalation_policy: PdReference | None = None
    incident: PdReference | None = None


class PdEvent(Payload):
    id: str
    event_type: str
    occurred_at: datetime | None = None
    data: PdData | None = None


class PdWebhook(Payload):
    event: PdEvent


class PdEventPayload(Payload):
    summary: str
    source: str | None = None
    severity: str | None = None
    timestamp: datetime | None = None
    component: str | None = None
    group: str | None = None
    class_: str | None = Field(default=None, alias="class")
    custom_details: Any = None


class PdLink(Payload):
    href: str
    text: str | None = None


class PdEventsV2(Payload):
    routing_key: str
    event_action: Literal["trigger", "acknowledge", "resolve"]
    dedup_key: str | None = None
    payload: PdEventPayload | None = None
    client: str | None = None
    client_url: str | None = None
    links: list[PdLink] = Field(default_factory=list)


SEVERITY = SeverityMapping(
    source_type="pagerduty",
    field="priority (P1-P5) then urgency (v3); payload.severity (Events API v2)",
    levels={
        "p1": Severity.critical,
        "p2": Severity.high,
        "p3": Severity.medium,
        "p4": Severity.low,
        "p5": Severity.low,
        "high": Severity.high,
        "low": Severity.low,
        "critical": Severity.critical,
        "error": Severity.high,
        "warning": Severity.medium,
        "info": Severity.low,
    },
    default=Severity.high,
)

_V3_STATUS: dict[str, AlertStatus] = {
    "incident.triggered": AlertStatus.firing,
    "incident.reopened": AlertStatus.firing,
    "incident.unacknowledged": AlertStatus.firing,
    "incident.acknowledged": AlertStatus.acknowledged,
    "incident.resolved": AlertStatus.resolved,
}

_V2_STATUS: dict[str, AlertStatus] = {
    "trigger": AlertStatus.firing,
    "acknowledge": AlertStatus.acknowledged,
    "resolve": AlertStatus.resolved,
}


def _signatures(header: str) -> list[str]:
    return [part.strip()[3:] for part in header.split(",") if part.strip().startswith("v1=")]


class PagerDutySource:
    type: ClassVar[str] = "pagerduty"
    config_model: ClassVar[builtins.type[PagerDutyConfig]] = PagerDutyConfig
    severity: ClassVar[SeverityMapping] = SEVERITY

    def verify(self, headers: Headers, body: bytes, config: PagerDutyConfig, context: VerifyContext) -> None:
        if not config.signing_secrets and not config.routing_keys:
            return
        header = headers.get("x-pagerduty-signature")
        if header is not None:
            if not config.signing_secrets:
                raise SourceUnauthorized(
                    config.name, "a signed v3 webhook arrived but no signing_secrets are configured"
                )
            if not any_signature_matches(config.signing_secrets, body, _signatures(header)):
                raise SourceUnauthorized(
                    config.name,
                    "no v1 signature in X-PagerDuty-Signature matches the body under a configured secret",
                )
            return
        routing_key = _routing_key(body)
        if routing_key is None:
            raise SourceUnauthorized(
                config.name, "the X-PagerDuty-Signature header is missing and the body has no routing_key"
            )
        if not config.routing_keys:
            raise SourceUnauthorized(config.name, "an Events API v2 body arrived but no routing_keys are configured")
        # Every key is compared, so the time taken does not tell which one was close.
        matched = False
        for key in config.routing_keys:
            matched |= same(key.get_secret_value(), routing_key)
        if not matched:
            raise SourceUnauthorized(config.name, "routing_key is not one of the configured routing_keys")

    def parse(self, body: JSONObject, headers: Headers, config: PagerDutyConfig) -> ParsedDelivery:
        if "event" in body:
            return self._parse_v3(body, config)
        if "routing_key" in body or "event_action" in body:
            return self._parse_events_v2(body, config)
        raise PayloadInvalid(
            "event",
            "missing; PagerDuty sends a v3 webhook {event: ...} or an Events API v2 event "
            "(routing_key, event_action, payload)",
            source_type=self.type,
        )

    def _parse_v3(self, body: JSONObject, config: PagerDutyConfig) -> ParsedDelivery:
        event = validate(PdWebhook, body, source_type=self.type).event
        data = event.data or PdData()
        is_incident = data.type in (None, "incident") and event.event_type.startswith("incident.")
        status = _V3_STATUS.get(event.event_type) if is_incident else None
        reason = None
        if status is None:
            status = AlertStatus.ignored
            reason = f"PagerDuty event {event.event_type!r} does not change whether an incident is open"
        identity = (data.id if data.type in (None, "incident") else None) or (
            data.incident.id if data.incident else None
        )
        alert = AlertEvent(
            source_name=config.name,
            source_type=self.type,
            identity=identity or event.id,
            status=status,
            ignored_reason=reason,
            service=resolve_service(config, (data.service.summary if data.service else None,)),
            severity=self.severity.resolve(
                data.priority.summary if data.priority else None, data.urgency, config=config
            ),
            title=data.title or (f"PagerDuty incident #{data.number}" if data.number else event.event_type),
            links=nonempty_links(source=data.html_url or (data.incident.html_url if data.incident else None)),
            labels={
                key: value
                for key, value in (
                    ("event_type", event.event_type),
                    ("urgency", data.urgency),
                    ("priority", data.priority.summary if data.priority else None),
                    ("incident_number", str(data.number) if data.number is not None else None),
                    ("escalation_policy", data.escalation_policy.summary if data.escalation_policy else None),
                )
                if value
            },
            starts_at=event.occurred_at if status is AlertStatus.firing else None,
            ends_at=event.occurred_at if status is AlertStatus.resolved else None,
            raw_alert=body["event"],
        )
        return ParsedDelivery(
            source_name=config.name, source_type=self.type, delivery_id=event.id, alerts=[alert], raw=body
        )

    def _parse_events_v2(self, body: JSONObject, config: PagerDutyConfig) -> ParsedDelivery:
        event = validate(PdEventsV2, body, source_type=self.type)
        detail = event.payload
        if event.event_action == "trigger" and detail is None:
            raise PayloadInvalid("payload", "missing; a trigger event needs payload.summary", source_type=self.type)
        dedup_key = event.dedup_key
        if dedup_key is None:
            if detail is None:
                raise PayloadInvalid(
                    "dedup_key",
                    "missing; acknowledge and resolve events need the dedup_key of their trigger",
                    source_type=self.type,
                )
            # PagerDuty makes up a key for a trigger without one; ours is stable for the same summary.
            seed = "\0".join(part or "" for part in (detail.source, detail.component, detail.summary))
            dedup_key = "summary:" + hashlib.sha256(seed.encode("utf-8")).hexdigest()[:16]
        details = detail.custom_details if detail else None
        service_detail = details.get("service") if isinstance(details, dict) else None
        alert = AlertEvent(
            source_name=config.name,
            source_type=self.type,
            identity=dedup_key,
            status=_V2_STATUS[event.event_action],
            service=resolve_service(
                config,
                (
                    service_detail if isinstance(service_detail, str) else None,
                    detail.component if detail else None,
                    detail.group if detail else None,
                    detail.source if detail else None,
                ),
            ),
            severity=self.severity.resolve(detail.severity if detail else None, config=config),
            title=detail.summary if detail else f"PagerDuty {event.event_action} {dedup_key}",
            description=(details if isinstance(details, str) else json.dumps(details)) if details else None,
            links=nonempty_links(source=event.client_url, link=event.links[0].href if event.links else None),
            labels={
                key: value
                for key, value in (
                    ("source", detail.source if detail else None),
                    ("component", detail.component if detail else None),
                    ("group", detail.group if detail else None),
                    ("class", detail.class_ if detail else None),
                    ("client", event.client),
                )
                if value
            },
            starts_at=detail.timestamp if detail and event.event_action == "trigger" else None,
            raw_alert=body,
        )
        return ParsedDelivery(source_name=config.name, source_type=self.type, alerts=[alert], raw=body)


def _routing_key(body: bytes) -> str | None:
    try:
        document = decode_object(body)
    except PayloadInvalid:
        return None
    value = document.get("routing_key")
    return value if isinstance(value, str) else None
