"""Intake: turn a posted report into a normalized, redacted NewIncident (no I/O)."""

from __future__ import annotations

import hashlib
import random
import re

from server.common.redact import redact, redact_value
from server.config import HealerConfig
from server.errors import InvalidInput, RepoNotConfigured
from server.intake.stacktrace import parse_stack_trace
from server.models import SEVERITY_ALIASES, IncidentIn, NewIncident, Severity, StackFrame

_random = random.Random()  # noqa: S311 - trace ids correlate logs, they protect nothing

#: Log excerpts keep their last this-many characters: the end of a log is where the failure is.
LOG_EXCERPT_CHARS = 64_000

_LEVELS: list[tuple[re.Pattern[str], Severity]] = [
    (re.compile(r"\b(?:CRITICAL|FATAL|EMERG(?:ENCY)?|PANIC)\b"), Severity.critical),
    (
        re.compile(r"\b(?:ERROR|ERR|SEVERE)\b|Traceback \(most recent call last\)|\bException\b"),
        Severity.high,
    ),
    (re.compile(r"\b(?:WARN|WARNING)\b"), Severity.medium),
]
_EXCEPTION_LINE = re.compile(r"^(?:[A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Warning|Fault)|panic|Error)\b.*")
_VOLATILE = [
    re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE),
    re.compile(r"\b0x[0-9a-f]+\b", re.IGNORECASE),
    re.compile(r"\b[0-9a-f]{12,}\b", re.IGNORECASE),
    re.compile(r"'[^']*'|\"[^\"]*\""),
    re.compile(r"\d+(?:\.\d+)?"),
]
_SPACE = re.compile(r"\s+")


def new_trace_id() -> str:
    """A W3C-style 32-hex trace id.

    Trace ids correlate logs; they guard nothing, so they come from the process's fast PRNG
    rather than os.urandom (a system call that, under load, waits for the GIL on every request).
    """
    return f"{_random.getrandbits(128):032x}"


def trace_id_from_traceparent(header: str | None) -> str | None:
    """The trace id of a W3C ``traceparent`` header (``00-<32 hex>-<16 hex>-<2 hex>``), if valid."""
    if not header:
        return None
    parts = header.strip().split("-")
    if len(parts) == 4 and len(parts[1]) == 32 and all(c in "0123456789abcdef" for c in parts[1]):
        return parts[1] if parts[1] != "0" * 32 else None
    return None


def parse_severity(value: str | None, *, text: str = "") -> Severity:
    """A monitor's severity word as ours; without one, the strongest level named in the text."""
    if value:
        found = SEVERITY_ALIASES.get(value.strip().lower())
        if found is None:
            raise InvalidInput(
                f"severity {redact(value)!r} is not known; use critical, high, medium or low "
                "(also accepted: error, warning, info, p1-p5, sev1-sev4)",
                field="severity",
            )
        return found
    for pattern, severity in _LEVELS:
        if pattern.search(text):
            return severity
    return Severity.medium


def error_from_log(log: str) -> str | None:
    """The line of a log that says what failed: the last exception line, else the first error line."""
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    for line in reversed(lines):
        if _EXCEPTION_LINE.match(line):
            return line
    for line in lines:
        if re.search(r"\b(?:ERROR|CRITICAL|FATAL|panic)\b", line):
            return line
    return lines[-1] if lines else None


def normalize_error(error: str) -> str:
    """The error with ids, numbers and quoted values blanked, so repeats fingerprint alike."""
    text = error.lower()
    for pattern in _VOLATILE:
        text = pattern.sub("#", text)
    return _SPACE.sub(" ", text).strip()[:500]


def fingerprint(service: str, *, given: str | None, error: str | None, frames: list[StackFrame]) -> str:
    """Identity of a fault: the reporter's own key when given, else service + error shape + top frame."""
    if given:
        basis = f"given\n{service}\n{given}"
    else:
        top = next((f for f in reversed(frames) if f.in_app is not False), frames[-1] if frames else None)
        where = f"{top.filename.rsplit('/', 1)[-1]}:{top.function}" if top else ""
        basis = f"derived\n{service}\n{normalize_error(error or '')}\n{where}"
    return hashlib.sha256(basis.encode()).hexdigest()


def _first_line(text: str, limit: int = 200) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


def redact_frame(frame: StackFrame) -> StackFrame:
    return frame.model_copy(
        update={
            "filename": redact(frame.filename),
            "function": redact(frame.function) if frame.function else None,
            "module": redact(frame.module) if frame.module else None,
            "context_line": redact(frame.context_line) if frame.context_line else None,
            "repo_path": redact(frame.repo_path) if frame.repo_path else None,
        }
    )


def normalize(report: IncidentIn, config: HealerConfig, *, trace_id: str | None = None) -> NewIncident:
    """Validate what the body alone cannot, redact every text field, and derive the rest."""
    if not (report.error or report.log or report.title):
        raise InvalidInput(
            "say what happened: send at least one of `error`, `log` or `title`",
            field="error",
        )
    labels = redact_value({redact(k): v for k, v in report.labels.items()})
    log = redact(report.log)[-LOG_EXCERPT_CHARS:] if report.log else None
    error = redact(report.error) if report.error else (error_from_log(log) if log else None)
    service = redact(report.service) if report.service else None
    service = service or labels.get("service") or labels.get("app") or labels.get("job") or "unknown"
    if isinstance(report.stack_trace, str):
        frames = parse_stack_trace(report.stack_trace)
    elif report.stack_trace is not None:
        frames = list(report.stack_trace)
    else:
        frames = parse_stack_trace(log) if log else []
    frames = [redact_frame(frame) for frame in frames]
    severity = parse_severity(report.severity, text="\n".join(filter(None, [report.error, report.log])))
    title = redact(report.title) if report.title else _first_line(error or log or "")
    if report.repo is not None:
        try:
            repo: str | None = config.repo(report.repo).name
        except RepoNotConfigured as exc:
            # The refusal quotes the name sent; redact it like any text we keep or show.
            raise InvalidInput(redact(str(exc)), field="repo") from exc
    else:
        found = config.repo_for_service(service)
        repo = found.name if found else None
    return NewIncident(
        fingerprint=fingerprint(service, given=report.fingerprint, error=error, frames=frames),
        source=redact(report.source) if report.source else "api",
        service=service,
        title=title or "(no title)",
        error=error,
        log_excerpt=log,
        stack_frames=frames,
        severity=severity,
        labels=labels,
        repo=repo,
        suggested_fix=redact(report.suggested_fix) if report.suggested_fix else None,
        affected_files=[redact(report.affected_file)] if report.affected_file else [],
        # A caller's trace id is free text within its pattern, and an AWS key id fits that pattern.
        trace_id=redact(report.trace_id) if report.trace_id else (trace_id or new_trace_id()),
    )
