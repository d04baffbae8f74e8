"""What every monitor source shares: the normalized alert, the parse result, config and the Protocol.

A source turns one delivery (raw body bytes + headers) into a ``ParsedDelivery``: first
``verify`` (who sent it, on the raw bytes), then ``parse`` (what it says, on the decoded
JSON). Neither knows HTTP frameworks or the store; ``server.intake.sources.intake`` runs the two in
order and the REST face (``POST /alerts/{name}``) calls that.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from server.intake.sources.sns import CertificateCache
from server.models import Severity, StackFrame

#: Header names are lower-case here; the intake lower-cases them once per delivery.
Headers = Mapping[str, str]

#: The decoded JSON body of a delivery (always an object).
JSONObject = dict[str, Any]


class AlertStatus(StrEnum):
    """What one alert says about its fault; decided per alert, never per payload."""

    firing = "firing"
    resolved = "resolved"
    acknowledged = "acknowledged"
    #: Not about a fault (a test notification, an SNS unsubscribe...): see ``ignored_reason``.
    ignored = "ignored"


class AlertEvent(BaseModel):
    """One alert of a delivery, in devops-healer's words, with the source's own identity."""

    source_name: str = Field(description="The configured source, as in /alerts/<name>.")
    source_type: str = Field(description="alertmanager, grafana, sentry, pagerduty, datadog, cloudwatch or kestra.")
    identity: str = Field(
        description="The source's own id for this fault (fingerprint, issue id, incident id, alarm ARN...); "
        "the same fault firing again or resolving carries the same identity."
    )
    status: AlertStatus
    ignored_reason: str | None = Field(default=None, description="Why an `ignored` alert is not about a fault.")
    service: str
    severity: Severity
    title: str
    description: str | None = None
    error: str | None = None
    log: str | None = None
    links: dict[str, str] = Field(
        default_factory=dict,
        description="source (the monitor's own page), generator, dashboard, panel, runbook, silence, image...",
    )
    labels: dict[str, str] = Field(default_factory=dict)
    stack_frames: list[StackFrame] = Field(default_factory=list)
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    raw_alert: dict[str, Any] = Field(default_factory=dict, description="This alert's part of the body, as sent.")


class ConfirmSubscription(BaseModel):
    """Action for the wiring: GET ``url`` (an SNS SubscribeURL) through the injected fetcher."""

    kind: Literal["confirm_subscription"] = "confirm_subscription"
    url: str
    topic_arn: str


class ParsedDelivery(BaseModel):
    """Everything one delivery said, ready for the store."""

    source_name: str
    source_type: str
    delivery_id: str | None = Field(
        default=None, description="The sender's id for this delivery; a retry carries the same one."
    )
    alerts: list[AlertEvent] = Field(default_factory=list)
    truncated: int = Field(
        default=0,
        description="Alerts the sender left out of this delivery; a missing alert has then NOT resolved.",
    )
    action: ConfirmSubscription | None = None
    raw: dict[str, Any] = Field(default_factory=dict, description="The whole decoded body, as sent.")


class SeverityMapping(BaseModel):
    """How one source's levels become ours: printed as a table in the README."""

    model_config = ConfigDict(frozen=True)

    source_type: str
    field: str = Field(description="Where the source's level is read.")
    levels: dict[str, Severity]
    default: Severity = Field(description="When the level is missing or not in `levels`.")

    def resolve(self, *values: str | None, config: SourceConfig) -> Severity:
        """The first of ``values`` that maps (config's ``severity_levels`` first), else the default."""
        for value in values:
            if not value:
                continue
            key = value.strip().lower()
            found = config.severity_levels.get(key) or self.levels.get(key)
            if found is not None:
                return found
        return config.default_severity or self.default


class SourceConfig(BaseModel):
    """One ``[sources.<name>]`` table; each source type adds its own keys."""

    model_config = ConfigDict(extra="forbid")

    type: str
    #: Set by ``load_sources`` from the table's name; deliveries arrive at /alerts/<name>.
    name: str = ""
    service: str | None = Field(
        default=None, description="A static service name for every alert of this source (wins over labels)."
    )
    default_severity: Severity | None = Field(
        default=None, description="Severity when the alert carries no level we know."
    )
    severity_levels: dict[str, Severity] = Field(
        default_factory=dict,
        description="Extra or overriding level -> severity pairs, e.g. {page = 'critical'}.",
    )
    delivery_id_header: str | None = Field(
        default=None, description="A request header whose value identifies the delivery (retries repeat it)."
    )
    group_by: list[str] = Field(
        default_factory=list,
        description="Labels that make one outage: alerts equal on all of them fold into one incident.",
    )

    @field_validator("severity_levels")
    @classmethod
    def _lower_levels(cls, value: dict[str, Severity]) -> dict[str, Severity]:
        return {key.strip().lower(): severity for key, severity in value.items()}

    def verification(self) -> list[str]:
        """The checks this configuration asks of each delivery; empty means unauthenticated."""
        return []


@dataclass(frozen=True)
class VerifyContext:
    """What verification needs besides the delivery: the time, and the SNS certificate cache."""

    now: datetime
    certificates: CertificateCache | None = None


C = TypeVar("C", bound=SourceConfig, contravariant=True)


class Source(Protocol[C]):
    """One kind of monitor: a module with one of these, registered in ``server.intake.sources.SOURCES``."""

    @property
    def type(self) -> str:
        """The source type, e.g. ``alertmanager``: the key in ``SOURCES`` and each config's ``type``."""

    @property
    def config_model(self) -> builtins.type[SourceConfig]:
        """The ``[sources.<name>]`` table of this type, as a pydantic model."""

    @property
    def severity(self) -> SeverityMapping:
        """How this source's levels map to ours (data for the README)."""

    def verify(self, headers: Headers, body: bytes, config: C, context: VerifyContext) -> None:
        """Raise ``SourceUnauthorized`` unless the raw delivery passes every configured check."""

    def parse(self, body: JSONObject, headers: Headers, config: C) -> ParsedDelivery:
        """The alerts of a verified delivery; ``PayloadInvalid`` names the JSON path that is wrong."""


def resolve_service(config: SourceConfig, candidates: Iterable[str | None], fallback: str = "unknown") -> str:
    """The static ``service`` from config, else the first non-empty candidate, else ``fallback``."""
    if config.service:
        return config.service
    for candidate in candidates:
        if candidate and candidate.strip():
            return candidate.strip()
    return fallback


def nonempty_links(**links: str | None) -> dict[str, str]:
    """Only the links that are set (monitors send "" for the ones they do not have)."""
    return {key: value for key, value in links.items() if value}
