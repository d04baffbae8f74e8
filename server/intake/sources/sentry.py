"""Sentry webhooks: integration-platform issue, event-alert, error and metric-alert bodies, and the legacy plugin.

Sentry signs with ``Sentry-Hook-Signature``, the hex HMAC-SHA256 of the raw body under the
integration's client secret (the legacy WebHooks plugin does not sign). ``Sentry-Hook-Resource``
says which body it is; without it the shape decides. Identity is the issue id, read from
``data.issue.id``, ``data.event.issue_id``, the legacy top-level ``id``, or ``/issues/<id>/`` in
``issue_url``/``web_url``. Stack frames come from the last exception that has a stack trace,
else from the event's own ``stacktrace``.
"""

from __future__ import annotations

import builtins
import re
from datetime import datetime
from typing import Any, ClassVar, Literal

from pydantic import Field

from server.common.credentials import Secret
from server.intake.sources.auth import any_signature_matches
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
from server.intake.sources.payload import Payload, epoch_time, validate
from server.models import Severity, StackFrame

_ISSUE_IN_URL = re.compile(r"/issues/(\d+)(?:/|$)")
_PROJECT_IN_URL = re.compile(r"/projects/[^/]+/([^/]+)/")

#: Frames kept per alert: the innermost ones (Sentry lists the most recent call last).
MAX_FRAMES = 200


class SentryConfig(SourceConfig):
    type: Literal["sentry"] = "sentry"
    client_secret: Secret | None = Field(
        default=None, description="The integration's client secret; Sentry signs each body with it."
    )

    def verification(self) -> list[str]:
        return ["Sentry-Hook-Signature HMAC"] if self.client_secret is not None else []


class SentryFrame(Payload):
    filename: str | None = None
    abs_path: str | None = None
    lineno: int | None = None
    function: str | None = None
    module: str | None = None
    in_app: bool | None = None
    context_line: str | None = None


class SentryStacktrace(Payload):
    frames: list[SentryFrame] | None = None


class SentryException(Payload):
    type: str | None = None
    value: str | None = None
    stacktrace: SentryStacktrace | None = None


class SentryExceptions(Payload):
    values: list[SentryException] | None = None


class SentryMetadata(Payload):
    type: str | None = None
    value: str | None = None
    title: str | None = None


class SentryLogEntry(Payload):
    formatted: str | None = None


class SentryEvent(Payload):
    event_id: str | None = None
    issue_id: str | None = None
    issue_url: str | None = None
    web_url: str | None = None
    url: str | None = None
    title: str | None = None
    message: str | None = None
    culprit: str | None = None
    level: str | None = None
    environment: str | None = None
    happened: datetime | None = Field(default=None, alias="datetime")
    timestamp: float | None = None
    exception: SentryExceptions | None = None
    stacktrace: SentryStacktrace | None = None
    metadata: SentryMetadata | None = None
    logentry: SentryLogEntry | None = None
    tags: list[Any] | None = None


class SentryProject(Payload):
    slug: str | None = None
    name: str | None = None


class SentryIssue(Payload):
    id: str
    title: str | None = None
    culprit: str | None = None
    level: str | None = None
    status: str | None = None
    shortId: str | None = None
    permalink: str | None = None
    web_url: str | None = None
    project: SentryProject | None = None
    metadata: SentryMetadata | None = None
    firstSeen: datetime | None = None


class IssueData(Payload):
    issue: SentryIssue


class IssueWebhook(Payload):
    action: str
    data: IssueData


class EventData(Payload):
    event: SentryEvent
    triggered_rule: str | None = None


class EventWebhook(Payload):
    action: str
    data: EventData


class ErrorData(Payload):
    error: SentryEvent


class ErrorWebhook(Payload):
    action: str
    data: ErrorData


class MetricAlert(Payload):
    id: str
    title: str | None = None
    projects: list[str] = Field(default_factory=list)


class MetricAlertData(Payload):
    metric_alert: MetricAlert
    description_title: str | None = None
    description_text: str | None = None
    web_url: str | None = None


class MetricAlertWebhook(Payload):
    action: Literal["critical", "warning", "resolved"]
    data: MetricAlertData


class LegacyWebhook(Payload):
    id: str
    project: str | None = None
    project_slug: str | None = None
    project_name: str | None = None
    culprit: str | None = None
    level: str | None = None
    url: str | None = None
    message: str | None = None
    event: SentryEvent
    triggering_rules: list[str] = Field(default_factory=list)


SEVERITY = SeverityMapping(
    source_type="sentry",
    field="level (issues and events), action (metric alerts)",
    levels={
        "fatal": Severity.critical,
        "critical": Severity.critical,
        "error": Severity.high,
        "warning": Severity.medium,
        "info": Severity.low,
        "debug": Severity.low,
    },
    default=Severity.high,
)

_ISSUE_ACTIONS: dict[str, tuple[AlertStatus, str | None]] = {
    "created": (AlertStatus.firing, None),
    "unresolved": (AlertStatus.firing, None),
    "resolved": (AlertStatus.resolved, None),
    "ignored": (AlertStatus.ignored, "the issue was archived in Sentry"),
    "archived": (AlertStatus.ignored, "the issue was archived in Sentry"),
    "assigned": (AlertStatus.ignored, "an assignment does not change whether the issue is open"),
}

_SHAPES = "data.issue, data.event, data.error or data.metric_alert (legacy WebHooks plugin: id and event)"


def _issue_in(*urls: str | None) -> str | None:
    for url in urls:
        if url:
            match = _ISSUE_IN_URL.search(url)
            if match:
                return match.group(1)
    return None


def _frames(event: SentryEvent) -> list[StackFrame]:
    chosen: list[SentryFrame] = []
    for value in reversed((event.exception.values if event.exception else None) or []):
        if value.stacktrace and value.stacktrace.frames:
            chosen = value.stacktrace.frames
            break
    if not chosen and event.stacktrace and event.stacktrace.frames:
        chosen = event.stacktrace.frames
    return [
        StackFrame(
            filename=frame.filename or frame.abs_path or frame.module or "<unknown>",
            lineno=frame.lineno,
            function=frame.function,
            module=frame.module,
            in_app=frame.in_app,
            context_line=frame.context_line,
        )
        for frame in chosen[-MAX_FRAMES:]
    ]


def _error(event: SentryEvent) -> str | None:
    for value in reversed((event.exception.values if event.exception else None) or []):
        if value.type or value.value:
            return ": ".join(part for part in (value.type, value.value) if part)
    if event.metadata and (event.metadata.type or event.metadata.value):
        return ": ".join(part for part in (event.metadata.type, event.metadata.value) if part)
    return (event.logentry.formatted if event.logentry else None) or event.message or None


def _tags(event: SentryEvent) -> dict[str, str]:
    tags: dict[str, str] = {}
    for tag in event.tags or []:
        if isinstance(tag, list | tuple) and len(tag) == 2:
            tags[str(tag[0])] = str(tag[1])
        elif isinstance(tag, dict) and "key" in tag:
            tags[str(tag["key"])] = str(tag.get("value", ""))
    return tags


def _project_in(url: str | None) -> str | None:
    match = _PROJECT_IN_URL.search(url or "")
    return match.group(1) if match else None


class SentrySource:
    type: ClassVar[str] = "sentry"
    config_model: ClassVar[builtins.type[SentryConfig]] = SentryConfig
    severity: ClassVar[SeverityMapping] = SEVERITY

    def verify(self, headers: Headers, body: bytes, config: SentryConfig, context: VerifyContext) -> None:
        if config.client_secret is None:
            return
        signature = headers.get("sentry-hook-signature")
        if not signature:
            raise SourceUnauthorized(
                config.name,
                "the Sentry-Hook-Signature header is missing (the legacy WebHooks plugin does not sign; "
                "send from an internal integration)",
            )
        if not any_signature_matches([config.client_secret], body, [signature]):
            raise SourceUnauthorized(config.name, "Sentry-Hook-Signature does not match the body")

    def parse(self, body: JSONObject, headers: Headers, config: SentryConfig) -> ParsedDelivery:
        resource = headers.get("sentry-hook-resource")
        data = body.get("data")
        if resource is None:
            if isinstance(data, dict):
                resource = next((key for key in ("issue", "event", "error", "metric_alert") if key in data), None)
                resource = "event_alert" if resource == "event" else resource
            elif "event" in body and "id" in body:
                resource = "legacy"
            if resource is None:
                raise PayloadInvalid("data", f"missing; a Sentry body has {_SHAPES}", source_type=self.type)
        if resource == "issue":
            alert = self._issue(validate(IssueWebhook, body, source_type=self.type), config)
        elif resource == "event_alert":
            event_body = validate(EventWebhook, body, source_type=self.type)
            rule = event_body.data.triggered_rule
            alert = self._event(event_body.data.event, config, service=None, rule=rule)
        elif resource == "error":
            alert = self._event(validate(ErrorWebhook, body, source_type=self.type).data.error, config, service=None)
        elif resource == "metric_alert":
            alert = self._metric_alert(validate(MetricAlertWebhook, body, source_type=self.type), config)
        elif resource == "legacy":
            legacy = validate(LegacyWebhook, body, source_type=self.type)
            alert = self._event(
                legacy.event,
                config,
                service=legacy.project_slug or legacy.project,
                issue_id=legacy.id,
                link=legacy.url,
                rule=", ".join(legacy.triggering_rules) or None,
            )
        else:
            alert = AlertEvent(
                source_name=config.name,
                source_type=self.type,
                identity=f"sentry-{resource}",
                status=AlertStatus.ignored,
                ignored_reason=f"a Sentry {resource!r} webhook carries no alert",
                service=resolve_service(config, ()),
                severity=self.severity.resolve(None, config=config),
                title=f"Sentry {resource} webhook",
            )
        alert.raw_alert = body
        return ParsedDelivery(
            source_name=config.name,
            source_type=self.type,
            delivery_id=headers.get("request-id"),
            alerts=[alert],
            raw=body,
        )

    def _issue(self, payload: IssueWebhook, config: SentryConfig) -> AlertEvent:
        issue = payload.data.issue
        status, reason = _ISSUE_ACTIONS.get(
            payload.action,
            (AlertStatus.ignored, f"Sentry issue action {payload.action!r} changes nothing we track"),
        )
        metadata = issue.metadata
        error = ": ".join(part for part in (metadata.type, metadata.value) if part) if metadata else None
        project = issue.project
        return AlertEvent(
            source_name=config.name,
            source_type=self.type,
            identity=issue.id,
            status=status,
            ignored_reason=reason,
            service=resolve_service(config, (project.slug if project else None,)),
            severity=self.severity.resolve(issue.level, config=config),
            title=issue.title or issue.shortId or f"Sentry issue {issue.id}",
            description=issue.culprit,
            error=error or None,
            links=nonempty_links(source=issue.permalink or issue.web_url),
            labels={
                key: value
                for key, value in (
                    ("project", project.slug if project else None),
                    ("short_id", issue.shortId),
                    ("level", issue.level),
                )
                if value
            },
            starts_at=issue.firstSeen,
        )

    def _event(
        self,
        event: SentryEvent,
        config: SentryConfig,
        *,
        service: str | None,
        issue_id: str | None = None,
        link: str | None = None,
        rule: str | None = None,
    ) -> AlertEvent:
        identity = issue_id or event.issue_id or _issue_in(event.issue_url, event.web_url, link)
        if identity is None:
            raise PayloadInvalid(
                "data.event.issue_id",
                "missing, and no /issues/<id>/ in issue_url or web_url",
                source_type=self.type,
            )
        project = service or _project_in(event.url)
        labels = _tags(event)
        for key, value in (("project", project), ("environment", event.environment), ("rule", rule)):
            if value:
                labels[key] = value
        # Sentry's "Send Test Notification" sends its built-in sample event, tagged sample_event=yes.
        sample = labels.get("sample_event") == "yes"
        return AlertEvent(
            source_name=config.name,
            source_type=self.type,
            identity=identity,
            status=AlertStatus.ignored if sample else AlertStatus.firing,
            ignored_reason="a Sentry sample event (a test notification), not an error" if sample else None,
            service=resolve_service(config, (project,)),
            severity=self.severity.resolve(event.level, labels.get("level"), config=config),
            title=event.title or _error(event) or f"Sentry issue {identity}",
            description=event.culprit,
            error=_error(event),
            links=nonempty_links(source=link or event.web_url),
            labels=labels,
            stack_frames=_frames(event),
            starts_at=event.happened or epoch_time(event.timestamp),
        )

    def _metric_alert(self, payload: MetricAlertWebhook, config: SentryConfig) -> AlertEvent:
        data = payload.data
        resolved = payload.action == "resolved"
        return AlertEvent(
            source_name=config.name,
            source_type=self.type,
            identity=f"metric-alert:{data.metric_alert.id}",
            status=AlertStatus.resolved if resolved else AlertStatus.firing,
            service=resolve_service(config, data.metric_alert.projects),
            severity=self.severity.resolve(None if resolved else payload.action, config=config),
            title=data.description_title or data.metric_alert.title or "Sentry metric alert",
            description=data.description_text,
            links=nonempty_links(source=data.web_url),
            labels={"projects": ",".join(data.metric_alert.projects)} if data.metric_alert.projects else {},
        )
