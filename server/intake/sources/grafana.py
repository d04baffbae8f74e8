"""Grafana's webhook contact point: unified alerting (Alertmanager-shaped) and legacy dashboard alerts.

Grafana authenticates with basic auth or an Authorization header, and can sign the body:
``X-Grafana-Alerting-Signature`` is the hex HMAC-SHA256 of the body, or of
``<timestamp>:<body>`` when a timestamp header is configured (Unix seconds, checked against
``max_age_seconds``). A contact-point test (the ``TestAlert`` Grafana makes up) and a legacy
test notification are returned as ``ignored``.
"""

from __future__ import annotations

import builtins
from typing import ClassVar, Literal

from pydantic import Field

from server.common.credentials import Secret
from server.intake.sources.alertmanager import LABEL_LEVELS, AmAlert, LabelledConfig, labelled_alert
from server.intake.sources.auth import any_signature_matches, check_http_auth
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
from server.intake.sources.errors import SourceUnauthorized
from server.intake.sources.payload import Payload, validate
from server.models import Severity

# What Grafana's "Test" button on a contact point sends: a made-up alert with these exact labels.
_TEST_LABELS = {"alertname": "TestAlert", "instance": "Grafana"}
_TEST_SUMMARY = "Notification test"
_LEGACY_TEST_MESSAGE = "Someone is testing the alert notification"


class GrafanaConfig(LabelledConfig):
    type: Literal["grafana"] = "grafana"
    hmac_secret: Secret | None = Field(default=None, description="The contact point's HMAC signature secret.")
    hmac_header: str = Field(default="X-Grafana-Alerting-Signature", description="Where Grafana puts the signature.")
    timestamp_header: str | None = Field(
        default=None,
        description="The contact point's timestamp header; when set, Grafana signs 'timestamp:body'.",
    )
    max_age_seconds: int = Field(default=300, ge=1, description="How old a signed timestamp may be.")

    def verification(self) -> list[str]:
        checks = self.http_checks()
        if self.hmac_secret is not None:
            checks.append(f"{self.hmac_header} HMAC signature")
        return checks


class GrafanaAlert(AmAlert):
    silenceURL: str | None = None
    dashboardURL: str | None = None
    panelURL: str | None = None
    imageURL: str | None = None


class GrafanaWebhook(Payload):
    status: Literal["firing", "resolved"] | None = None
    alerts: list[GrafanaAlert]
    truncatedAlerts: int = 0
    externalURL: str | None = None
    title: str | None = None
    message: str | None = None
    orgId: int | None = None


class LegacyGrafanaWebhook(Payload):
    state: Literal["alerting", "ok", "no_data", "paused", "pending"]
    ruleId: int | None = None
    ruleName: str | None = None
    ruleUrl: str | None = None
    title: str | None = None
    message: str | None = None
    imageUrl: str | None = None
    dashboardId: int | None = None
    panelId: int | None = None
    orgId: int | None = None
    tags: dict[str, str] | None = None


SEVERITY = SeverityMapping(
    source_type="grafana",
    field="labels.severity (legacy: tags.severity)",
    levels=LABEL_LEVELS,
    default=Severity.medium,
)

_LEGACY_STATUS: dict[str, tuple[AlertStatus, str | None]] = {
    "alerting": (AlertStatus.firing, None),
    "ok": (AlertStatus.resolved, None),
    "no_data": (AlertStatus.ignored, "the legacy alert rule has no data"),
    "paused": (AlertStatus.ignored, "the legacy alert rule is paused"),
    "pending": (AlertStatus.ignored, "the legacy alert rule is pending"),
}


def _is_test_alert(alert: GrafanaAlert) -> bool:
    return alert.labels == _TEST_LABELS and alert.annotations.get("summary") == _TEST_SUMMARY


class GrafanaSource:
    type: ClassVar[str] = "grafana"
    config_model: ClassVar[builtins.type[GrafanaConfig]] = GrafanaConfig
    severity: ClassVar[SeverityMapping] = SEVERITY

    def verify(self, headers: Headers, body: bytes, config: GrafanaConfig, context: VerifyContext) -> None:
        check_http_auth(headers, config)
        if config.hmac_secret is None:
            return
        signature = headers.get(config.hmac_header.lower())
        if not signature:
            raise SourceUnauthorized(config.name, f"the {config.hmac_header} header is missing")
        signed = body
        if config.timestamp_header is not None:
            stamp = headers.get(config.timestamp_header.lower(), "").strip()
            if not stamp.isdigit():
                raise SourceUnauthorized(config.name, f"the {config.timestamp_header} header is not Unix seconds")
            age = context.now.timestamp() - int(stamp)
            if abs(age) > config.max_age_seconds:
                raise SourceUnauthorized(
                    config.name,
                    f"the signed timestamp is {int(age)} s from now; at most {config.max_age_seconds} s is accepted",
                )
            signed = stamp.encode("ascii") + b":" + body
        if not any_signature_matches([config.hmac_secret], signed, [signature]):
            raise SourceUnauthorized(config.name, f"{config.hmac_header} does not match the body")

    def parse(self, body: JSONObject, headers: Headers, config: GrafanaConfig) -> ParsedDelivery:
        if "alerts" not in body and "state" in body:
            return self._parse_legacy(body, config)
        payload = validate(GrafanaWebhook, body, source_type=self.type)
        alerts = []
        for alert, raw in zip(payload.alerts, body["alerts"], strict=True):
            links = nonempty_links(
                source=payload.externalURL,
                silence=alert.silenceURL,
                dashboard=alert.dashboardURL,
                panel=alert.panelURL,
                image=alert.imageURL,
            )
            event = labelled_alert(
                alert, raw, group_status=payload.status, config=config, severity=self.severity, links=links
            )
            if _is_test_alert(alert):
                event.status = AlertStatus.ignored
                event.ignored_reason = "a Grafana contact-point test notification, not an alert"
            alerts.append(event)
        return ParsedDelivery(
            source_name=config.name,
            source_type=self.type,
            alerts=alerts,
            truncated=payload.truncatedAlerts,
            raw=body,
        )

    def _parse_legacy(self, body: JSONObject, config: GrafanaConfig) -> ParsedDelivery:
        payload = validate(LegacyGrafanaWebhook, body, source_type=self.type)
        tags = payload.tags or {}
        status, reason = _LEGACY_STATUS[payload.state]
        if payload.ruleId == 0 or (payload.message or "").startswith(_LEGACY_TEST_MESSAGE):
            status, reason = AlertStatus.ignored, "a Grafana legacy test notification, not an alert"
        event = AlertEvent(
            source_name=config.name,
            source_type=self.type,
            identity=f"legacy:{payload.orgId or 0}:{payload.dashboardId or 0}:{payload.panelId or 0}:{payload.ruleId}",
            status=status,
            ignored_reason=reason,
            service=resolve_service(config, (tags.get(key) for key in config.service_labels())),
            severity=self.severity.resolve(tags.get(config.severity_label), config=config),
            title=payload.ruleName or payload.title or "Grafana alert",
            description=payload.message,
            links=nonempty_links(source=payload.ruleUrl, image=payload.imageUrl),
            labels=tags,
            raw_alert=body,
        )
        return ParsedDelivery(source_name=config.name, source_type=self.type, alerts=[event], raw=body)
