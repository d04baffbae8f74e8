"""The notification event: what happened to which incident, with the links a person needs."""

from __future__ import annotations

import hashlib
from datetime import datetime
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from server.models import Category, Severity, Status


class EventKind(StrEnum):
    new_critical = "new_critical"
    escalated = "escalated"
    approval_needed = "approval_needed"
    pr_opened = "pr_opened"
    merged = "merged"
    verified = "verified"
    regressed = "regressed"
    dead_lettered = "dead_lettered"


#: Headlines, one per kind, as people read them.
KIND_TITLES: dict[EventKind, str] = {
    EventKind.new_critical: "New critical incident",
    EventKind.escalated: "Escalated to a person",
    EventKind.approval_needed: "Approval needed",
    EventKind.pr_opened: "Pull request opened",
    EventKind.merged: "Fix merged",
    EventKind.verified: "Fix verified",
    EventKind.regressed: "Regressed after fix",
    EventKind.dead_lettered: "Gave up: attempts exhausted",
}


def http_link(value: object) -> str | None:
    """``value`` when it is an http(s) URL without spaces, else None: links from alerts are untrusted."""
    if not isinstance(value, str) or not value.startswith(("https://", "http://")):
        return None
    return None if any(char.isspace() for char in value) else value


class Links(BaseModel):
    """Where a person goes next; only http(s) URLs are kept."""

    model_config = ConfigDict(frozen=True)

    incident: str | None = None
    pull_request: str | None = None
    runbook: str | None = None
    dashboard: str | None = None
    approve: str | None = None
    deny: str | None = None

    @field_validator("*")
    @classmethod
    def _http_only(cls, value: str | None) -> str | None:
        # A runbook link can come from an alert's labels: refuse javascript:, data: and the like.
        if value is None:
            return None
        if http_link(value) is None:
            raise ValueError(f"expected an http(s) URL without spaces, got {value[:80]!r}")
        return value


class NotificationEvent(BaseModel):
    """One thing worth telling people about, with an id that makes delivery idempotent."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,100}$", description="Idempotency id; also the webhook-id.")
    kind: EventKind
    incident_id: str
    title: str
    service: str
    severity: Severity
    status: Status
    source: str
    category: Category | None = None
    summary: str | None = None
    detail: str | None = Field(default=None, description="Kind-specific text: the PR title, the failure reason.")
    occurrences: int = 1
    folded: int = Field(default=0, description="Repeats folded into this message since the last one sent.")
    occurred_at: AwareDatetime
    links: Links = Field(default_factory=Links)


def event_id(incident_id: str, kind: EventKind, occurred_at: datetime, discriminator: str = "") -> str:
    """A stable id for an event, so a retried emit cannot notify twice."""
    material = f"{incident_id}|{kind.value}|{occurred_at.isoformat()}|{discriminator}"
    return "evt_" + hashlib.sha256(material.encode("utf-8")).hexdigest()[:32]
