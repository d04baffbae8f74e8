"""Domain models shared by the store, the REST face and the MCP face (pydantic only, cheap to import)."""

import re
from datetime import datetime
from enum import StrEnum
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")


class Severity(StrEnum):
    critical = "critical"
    high = "high"
    medium = "medium"
    low = "low"

    @property
    def rank(self) -> int:
        """4 for critical down to 1 for low, so rules can say ``severity_rank >= 3``."""
        return SEVERITY_RANK[self]


SEVERITY_RANK: dict[Severity, int] = {
    Severity.critical: 4,
    Severity.high: 3,
    Severity.medium: 2,
    Severity.low: 1,
}

# Words monitors use for severity, mapped onto ours. Anything else is refused with the list.
SEVERITY_ALIASES: dict[str, Severity] = {
    "critical": Severity.critical,
    "crit": Severity.critical,
    "fatal": Severity.critical,
    "emergency": Severity.critical,
    "p1": Severity.critical,
    "sev1": Severity.critical,
    "high": Severity.high,
    "error": Severity.high,
    "major": Severity.high,
    "p2": Severity.high,
    "sev2": Severity.high,
    "medium": Severity.medium,
    "warning": Severity.medium,
    "warn": Severity.medium,
    "moderate": Severity.medium,
    "p3": Severity.medium,
    "sev3": Severity.medium,
    "low": Severity.low,
    "info": Severity.low,
    "minor": Severity.low,
    "debug": Severity.low,
    "p4": Severity.low,
    "p5": Severity.low,
    "sev4": Severity.low,
}


class Category(StrEnum):
    database = "database"
    network = "network"
    memory = "memory"
    disk = "disk"
    auth = "auth"
    config = "config"
    dependency = "dependency"
    application = "application"


class Status(StrEnum):
    received = "received"
    triaged = "triaged"
    pending = "pending"
    monitoring = "monitoring"
    escalated = "escalated"
    awaiting_approval = "awaiting_approval"
    claimed = "claimed"
    fixing = "fixing"
    pr_open = "pr_open"
    in_review = "in_review"
    changes_requested = "changes_requested"
    approved = "approved"
    merged = "merged"
    verified = "verified"
    regressed = "regressed"
    fix_rejected = "fix_rejected"
    dead_letter = "dead_letter"
    resolved_by_source = "resolved_by_source"
    resolved = "resolved"


#: States after which a repeat of the same fingerprint opens a new incident.
CLOSED_STATUSES: frozenset[Status] = frozenset({Status.verified, Status.resolved_by_source, Status.resolved})


class StackFrame(BaseModel):
    """One frame of a stack trace, as the source reported it, plus where it lives in the repo."""

    filename: str
    lineno: int | None = None
    function: str | None = None
    module: str | None = None
    in_app: bool | None = None
    context_line: str | None = None
    #: The frame's file as a path inside the incident's repository, when one matches.
    repo_path: str | None = None


class Claim(BaseModel):
    holder: str
    expires_at: datetime


class PullRequestRef(BaseModel):
    url: str | None = None
    number: int | None = None
    branch: str | None = None
    review_state: str | None = None


class TimelineEvent(BaseModel):
    """One append-only row of an incident's history."""

    id: int
    incident_id: str
    at: datetime
    actor: str = Field(description="api, agent:NAME, github:LOGIN, human:NAME or system")
    event: str
    detail: dict[str, Any] = Field(default_factory=dict)
    trace_id: str | None = None


class Incident(BaseModel):
    """Everything known about one incident."""

    id: str
    fingerprint: str
    source: str
    service: str
    title: str
    error: str | None = None
    log_excerpt: str | None = None
    stack_frames: list[StackFrame] = Field(default_factory=list)
    severity: Severity
    category: Category | None = None
    confidence: float | None = None
    summary: str | None = None
    suggested_fix: str | None = None
    affected_files: list[str] = Field(default_factory=list)
    labels: dict[str, str] = Field(default_factory=dict)
    repo: str | None = None
    status: Status
    attempts: int = 0
    occurrences: int = 1
    first_seen: datetime
    last_seen: datetime
    claim: Claim | None = None
    pull_request: PullRequestRef | None = None
    trace_id: str
    not_before: datetime | None = None
    automation: str | None = Field(
        default=None, description="How far automation may go: root_cause_only, patch or pull_request."
    )
    updated_at: datetime


class IncidentSummary(BaseModel):
    """The short form used in lists."""

    id: str
    title: str
    service: str
    severity: Severity
    status: Status
    category: Category | None = None
    repo: str | None = None
    occurrences: int
    attempts: int
    first_seen: datetime
    last_seen: datetime
    claim: Claim | None = None


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(
        default=None, description="Pass as `cursor` to get the next page; null when there is no more."
    )


class IncidentIn(BaseModel):
    """The body of ``POST /incidents``.

    Two seed shapes are accepted: ``{"service", "error", "severity"}`` from an application, and
    ``{"log", "source"}`` from a log shipper; everything else is optional. At least one of
    ``error``, ``log`` or ``title`` must say what happened.
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    service: str | None = Field(default=None, max_length=200, description="The failing service.")
    error: str | None = Field(default=None, max_length=20_000, description="The error message.")
    severity: str | None = Field(
        default=None,
        max_length=40,
        description="critical, high, medium or low (also accepted: error, warning, info, p1-p5, sev1-sev4).",
    )
    log: str | None = Field(default=None, max_length=200_000, description="A log excerpt.")
    source: str | None = Field(default=None, max_length=100, description="Who reports it (e.g. kestra, curl).")
    title: str | None = Field(default=None, max_length=500)
    stack_trace: str | list[StackFrame] | None = Field(
        default=None, description="A stack trace as text, or a list of frames."
    )
    labels: dict[str, str] = Field(default_factory=dict, max_length=100)
    fingerprint: str | None = Field(
        default=None,
        max_length=200,
        description="Your own identity for this fault; repeats are deduplicated.",
    )
    repo: str | None = Field(default=None, max_length=200, description="A repository name from healer.toml.")
    suggested_fix: str | None = Field(default=None, max_length=20_000)
    affected_file: str | None = Field(default=None, max_length=1000)
    trace_id: str | None = Field(default=None, max_length=100, pattern=r"^[A-Za-z0-9._:-]+$")


class IngestResult(BaseModel):
    """The answer to a POST: the incident and whether it was a repeat."""

    id: str
    status: Status
    trace_id: str
    duplicate: bool
    occurrences: int = 1


FixOutcome = Literal["success", "failed", "needs_review"]


_ID_RE = re.compile(r"^INC-(\d{8})-(\d{4,})$")


def format_incident_id(pk: int, created: datetime) -> str:
    """The public id: creation date plus the row number, e.g. INC-20261122-0042."""
    return _incident_id(f"{created.year:04d}{created.month:02d}{created.day:02d}", pk)


def format_incident_id_on(pk: int, created_iso: str) -> str:
    """The same, from the creation time as ISO 8601 text in UTC (``2026-11-22T09:00:00Z``)."""
    return _incident_id(created_iso[0:4] + created_iso[5:7] + created_iso[8:10], pk)


def _incident_id(day: str, pk: int) -> str:
    return f"INC-{day}-{pk:04d}"


def parse_incident_id(incident_id: str) -> tuple[str, int] | None:
    """(date, row number) of a public id, or None when it is not shaped like one."""
    match = _ID_RE.match(incident_id.strip())
    if match is None:
        return None
    return match.group(1), int(match.group(2))


class NewIncident(BaseModel):
    """A report normalized and redacted by intake, ready for the store."""

    fingerprint: str
    source: str
    service: str
    title: str
    error: str | None = None
    log_excerpt: str | None = None
    stack_frames: list[StackFrame] = Field(default_factory=list)
    severity: Severity
    labels: dict[str, str] = Field(default_factory=dict)
    repo: str | None = None
    suggested_fix: str | None = None
    affected_files: list[str] = Field(default_factory=list)
    trace_id: str
    actor: str = "api"
