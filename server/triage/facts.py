"""The incident fields triage reads, as one typed view built from an Incident or a new report."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from server.models import Category, Severity, StackFrame

#: Fields a classification rule can search.
TextField = Literal["title", "error", "log", "stack", "labels"]
TEXT_FIELDS: tuple[TextField, ...] = ("title", "error", "log", "stack", "labels")


class IncidentLike(Protocol):
    """What triage needs of an incident; ``server.models.Incident`` and intake's new reports fit."""

    @property
    def service(self) -> str: ...
    @property
    def source(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def error(self) -> str | None: ...
    @property
    def log_excerpt(self) -> str | None: ...
    @property
    def stack_frames(self) -> Sequence[StackFrame]: ...
    @property
    def severity(self) -> Severity: ...
    @property
    def labels(self) -> Mapping[str, str]: ...
    @property
    def repo(self) -> str | None: ...


class IncidentFacts(BaseModel):
    """The incident as triage sees it: text fields for the classifier, values for routing."""

    model_config = ConfigDict(frozen=True)

    service: str
    source: str = ""
    title: str = ""
    error: str = ""
    log: str = ""
    stack: str = Field(default="", description="The stack frames as text, one frame a line.")
    labels: dict[str, str] = Field(default_factory=dict)
    severity: Severity = Severity.medium
    repo: str | None = None
    category: Category | None = None
    confidence: float | None = None
    occurrences: int = 1
    attempts: int = 0

    def text(self, field: TextField) -> str:
        """The text of one searchable field; labels read as ``key=value`` lines."""
        if field == "labels":
            return "\n".join(f"{key}={value}" for key, value in sorted(self.labels.items()))
        value: str = getattr(self, field)
        return value


def stack_text(frames: Sequence[StackFrame]) -> str:
    """Frames as ``module.function (file:line)`` lines, with the source line when known."""
    lines: list[str] = []
    for frame in frames:
        where = frame.filename if frame.lineno is None else f"{frame.filename}:{frame.lineno}"
        name = ".".join(part for part in (frame.module, frame.function) if part)
        lines.append(f"{name} ({where})" if name else where)
        if frame.context_line:
            lines.append(f"    {frame.context_line.strip()}")
    return "\n".join(lines)


def facts_of(incident: IncidentLike) -> IncidentFacts:
    """Build the triage view of an incident; fields a new report lacks take their defaults."""
    extra: dict[str, Any] = {}
    for name in ("category", "confidence", "occurrences", "attempts"):
        value = getattr(incident, name, None)
        if value is not None:
            extra[name] = value
    return IncidentFacts(
        service=incident.service,
        source=incident.source,
        title=incident.title,
        error=incident.error or "",
        log=incident.log_excerpt or "",
        stack=stack_text(incident.stack_frames),
        labels=dict(incident.labels),
        severity=incident.severity,
        repo=incident.repo,
        **extra,
    )
