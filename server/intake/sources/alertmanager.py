"""Prometheus Alertmanager's webhook receiver body (version 4): one group, one alert each.

Alertmanager authenticates with its ``http_config`` (bearer token or basic auth); it has no
body signature. Each alert carries its own ``status``; when a (hand-trimmed) body leaves it
out, the group's status stands in. Identity is the alert's ``fingerprint``, or the same
FNV-1a hash of the sorted labels that Alertmanager computes when the body has none.
"""

from __future__ import annotations

import builtins
from datetime import datetime
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
from server.intake.sources.payload import Payload, real_time, validate
from server.models import SEVERITY_ALIASES, Severity

#: Labels that name the service, first match wins (``service_label`` in config goes first).
SERVICE_LABELS: tuple[str, ...] = ("service", "app", "application", "job")

#: Prometheus-style `severity` label values; anything else falls to the default.
LABEL_LEVELS: dict[str, Severity] = {**SEVERITY_ALIASES, "page": Severity.critical, "none": Severity.low}

_FNV_OFFSET = 14695981039346656037
_FNV_PRIME = 1099511628211
_MASK = (1 << 64) - 1
_SEPARATOR = 0xFF


def label_fingerprint(labels: dict[str, str]) -> str:
    """Alertmanager's fingerprint of a label set: FNV-1a 64 over sorted name/value pairs, as hex."""
    value = _FNV_OFFSET
    for name in sorted(labels):
        for chunk in (name.encode("utf-8"), labels[name].encode("utf-8")):
            for byte in chunk:
                value = ((value ^ byte) * _FNV_PRIME) & _MASK
            value = ((value ^ _SEPARATOR) * _FNV_PRIME) & _MASK
    return f"{value:016x}"


class LabelledConfig(HttpAuthConfig):
    """Config of a source whose alerts are label sets (Alertmanager, Grafana)."""

    service_label: str | None = Field(default=None, description="The label that names the service, e.g. 'app'.")
    severity_label: str = Field(default="severity", description="The label that carries the alert's level.")
    delivery_id_header: str | None = "X-Webhook-Id"

    def service_labels(self) -> tuple[str, ...]:
        return (self.service_label, *SERVICE_LABELS) if self.service_label else SERVICE_LABELS


class AlertmanagerConfig(LabelledConfig):
    type: Literal["alertmanager"] = "alertmanager"


class AmAlert(Payload):
    status: Literal["firing", "resolved"] | None = None
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: datetime | None = None
    endsAt: datetime | None = None
    generatorURL: str | None = None
    fingerprint: str | None = None


class AmWebhook(Payload):
    status: Literal["firing", "resolved"] | None = None
    alerts: list[AmAlert]
    truncatedAlerts: int = 0
    externalURL: str | None = None
    groupKey: str | None = None
    commonAnnotations: dict[str, str] = Field(default_factory=dict)


SEVERITY = SeverityMapping(
    source_type="alertmanager", field="labels.severity", levels=LABEL_LEVELS, default=Severity.medium
)


def labelled_alert(
    alert: AmAlert,
    raw: Any,
    *,
    group_status: str | None,
    config: LabelledConfig,
    severity: SeverityMapping,
    links: dict[str, str],
    common_annotations: dict[str, str] | None = None,
) -> AlertEvent:
    """One Alertmanager-shaped alert (Alertmanager's or Grafana's) as an ``AlertEvent``.

    The group's ``commonAnnotations`` fill in what an alert leaves out (some senders put the runbook
    only there); the alert's own annotations win."""
    labels = alert.labels
    annotations = {**(common_annotations or {}), **alert.annotations}
    status = alert.status or group_status or "firing"
    return AlertEvent(
        source_name=config.name,
        source_type=config.type,
        identity=alert.fingerprint or label_fingerprint(labels),
        status=AlertStatus(status),
        service=resolve_service(config, (labels.get(key) for key in config.service_labels())),
        severity=severity.resolve(labels.get(config.severity_label), config=config),
        title=annotations.get("summary") or annotations.get("title") or labels.get("alertname") or "alert",
        description=annotations.get("description") or annotations.get("message"),
        links={
            **nonempty_links(
                generator=alert.generatorURL,
                runbook=annotations.get("runbook_url") or annotations.get("runbook"),
                dashboard=annotations.get("dashboard_url") or annotations.get("dashboard"),
            ),
            **links,
        },
        labels=labels,
        starts_at=real_time(alert.startsAt),
        ends_at=real_time(alert.endsAt),
        raw_alert=raw if isinstance(raw, dict) else {},
    )


class AlertmanagerSource:
    type: ClassVar[str] = "alertmanager"
    config_model: ClassVar[builtins.type[AlertmanagerConfig]] = AlertmanagerConfig
    severity: ClassVar[SeverityMapping] = SEVERITY

    def verify(self, headers: Headers, body: bytes, config: AlertmanagerConfig, context: VerifyContext) -> None:
        check_http_auth(headers, config)

    def parse(self, body: JSONObject, headers: Headers, config: AlertmanagerConfig) -> ParsedDelivery:
        payload = validate(AmWebhook, body, source_type=self.type)
        links = nonempty_links(source=payload.externalURL)
        alerts = [
            labelled_alert(
                alert,
                raw,
                group_status=payload.status,
                config=config,
                severity=self.severity,
                links=links,
                common_annotations=payload.commonAnnotations,
            )
            for alert, raw in zip(payload.alerts, body["alerts"], strict=True)
        ]
        return ParsedDelivery(
            source_name=config.name,
            source_type=self.type,
            alerts=alerts,
            truncated=payload.truncatedAlerts,
            raw=body,
        )
