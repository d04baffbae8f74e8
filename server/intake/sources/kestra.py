"""Kestra: the JSON contract a flow posts (from its ``errors:`` handler or a system flow on failures).

Kestra's HTTP task does not sign; authenticate with a bearer token (``Authorization: Bearer
{{ secret('HEALER_TOKEN') }}`` in the task's headers). The body is ``KestraAlert``; its JSON
Schema is the published contract. Identity is ``namespace.flowId`` (plus ``.taskId`` when
given), so repeated failures of one flow are one fault; the execution id identifies the
delivery, so a retried POST for the same execution counts once.
"""

from __future__ import annotations

import builtins
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

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
from server.intake.sources.payload import validate
from server.models import SEVERITY_ALIASES, Severity


class KestraConfig(HttpAuthConfig):
    type: Literal["kestra"] = "kestra"
    delivery_id_header: str | None = "Idempotency-Key"


class KestraAlert(BaseModel):
    """What a Kestra flow posts to ``/alerts/kestra`` when an execution fails."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, str_strip_whitespace=True)

    namespace: str = Field(
        min_length=1, max_length=300, description="The failed flow's namespace: {{ flow.namespace }}."
    )
    flow_id: str = Field(alias="flowId", min_length=1, max_length=300, description="The failed flow: {{ flow.id }}.")
    execution_id: str = Field(
        alias="executionId",
        min_length=1,
        max_length=300,
        description="The failed execution: {{ execution.id }}.",
    )
    task_id: str | None = Field(
        default=None, alias="taskId", max_length=300, description="The task that failed, when known."
    )
    title: str | None = Field(
        default=None, max_length=500, description="One line; default: 'Kestra flow <ns>.<id> failed'."
    )
    service: str | None = Field(
        default=None,
        max_length=200,
        description="The service to fix (a name in the service map); default: namespace.",
    )
    severity: str | None = Field(
        default=None,
        max_length=40,
        description="critical, high, medium or low (also: error, warning, info, p1-p5, sev1-sev4); default: high.",
    )
    error: str | None = Field(default=None, max_length=20_000, description="The error message of the failed task.")
    log: str | None = Field(default=None, max_length=200_000, description="A log excerpt of the failed task.")
    link: str | None = Field(default=None, max_length=2000, description="The execution's page in the Kestra UI.")
    status: Literal["firing", "resolved"] = Field(
        default="firing", description="'resolved' when a later execution of the flow succeeded."
    )
    labels: dict[str, str] = Field(default_factory=dict, max_length=100, description="Extra key/value labels.")
    fingerprint: str | None = Field(
        default=None,
        max_length=200,
        description="Your own identity for this fault; default: namespace.flowId[.taskId].",
    )

    @field_validator("severity")
    @classmethod
    def _known_severity(cls, value: str | None) -> str | None:
        if value is not None and value.lower() not in SEVERITY_ALIASES:
            raise ValueError(f"expected one of {', '.join(SEVERITY_ALIASES)}")
        return value


SEVERITY = SeverityMapping(source_type="kestra", field="severity", levels=SEVERITY_ALIASES, default=Severity.high)


class KestraSource:
    type: ClassVar[str] = "kestra"
    config_model: ClassVar[builtins.type[KestraConfig]] = KestraConfig
    severity: ClassVar[SeverityMapping] = SEVERITY

    def verify(self, headers: Headers, body: bytes, config: KestraConfig, context: VerifyContext) -> None:
        check_http_auth(headers, config)

    def parse(self, body: JSONObject, headers: Headers, config: KestraConfig) -> ParsedDelivery:
        alert = validate(KestraAlert, body, source_type=self.type)
        if not (alert.error or alert.log or alert.title):
            raise PayloadInvalid("error", "missing; say what happened in error, log or title", source_type=self.type)
        flow = f"{alert.namespace}.{alert.flow_id}"
        identity = alert.fingerprint or (f"{flow}.{alert.task_id}" if alert.task_id else flow)
        labels = {
            **alert.labels,
            "namespace": alert.namespace,
            "flow_id": alert.flow_id,
            "execution_id": alert.execution_id,
        }
        if alert.task_id:
            labels["task_id"] = alert.task_id
        event = AlertEvent(
            source_name=config.name,
            source_type=self.type,
            identity=identity,
            status=AlertStatus(alert.status),
            service=resolve_service(config, (alert.service, alert.namespace)),
            severity=self.severity.resolve(alert.severity, config=config),
            title=alert.title or f"Kestra flow {flow} failed" + (f" at task {alert.task_id}" if alert.task_id else ""),
            error=alert.error,
            log=alert.log,
            links=nonempty_links(source=alert.link),
            labels=labels,
            raw_alert=body,
        )
        return ParsedDelivery(
            source_name=config.name,
            source_type=self.type,
            delivery_id=alert.execution_id,
            alerts=[event],
            raw=body,
        )
