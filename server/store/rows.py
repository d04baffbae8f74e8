"""Database rows to domain models, and the cursors that page through them."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any, TypeAlias

from sqlalchemy import Row

from server.errors import InvalidInput
from server.models import (
    Claim,
    Incident,
    IncidentSummary,
    PullRequestRef,
    Severity,
    StackFrame,
    Status,
    TimelineEvent,
    format_incident_id,
)

#: A result row of any shape (SQLAlchemy 2.1 rows are typed by their columns).
AnyRow: TypeAlias = "Row[*tuple[Any, ...]]"


def public_id(row: Any) -> str:
    return format_incident_id(row.pk, row.created_at)


def _claim(row: Any) -> Claim | None:
    if row.claim_holder and row.claim_expires_at:
        return Claim(holder=row.claim_holder, expires_at=row.claim_expires_at)
    return None


def to_incident(row: AnyRow) -> Incident:
    pr = None
    if row.pr_url or row.pr_number or row.branch:
        pr = PullRequestRef(url=row.pr_url, number=row.pr_number, branch=row.branch, review_state=row.review_state)
    return Incident(
        id=public_id(row),
        fingerprint=row.fingerprint,
        source=row.source,
        service=row.service,
        title=row.title,
        error=row.error,
        log_excerpt=row.log_excerpt,
        stack_frames=[StackFrame.model_validate(frame) for frame in row.stack_frames or []],
        severity=Severity(row.severity),
        category=row.category,
        confidence=row.confidence,
        summary=row.summary,
        suggested_fix=row.suggested_fix,
        affected_files=list(row.affected_files or []),
        labels=dict(row.labels or {}),
        repo=row.repo,
        status=Status(row.status),
        attempts=row.attempts,
        occurrences=row.occurrences,
        first_seen=row.first_seen,
        last_seen=row.last_seen,
        claim=_claim(row),
        pull_request=pr,
        trace_id=row.trace_id,
        not_before=row.not_before,
        automation=row.automation,
        updated_at=row.updated_at,
    )


def to_summary(row: AnyRow) -> IncidentSummary:
    return IncidentSummary(
        id=public_id(row),
        title=row.title,
        service=row.service,
        severity=Severity(row.severity),
        status=Status(row.status),
        category=row.category,
        repo=row.repo,
        occurrences=row.occurrences,
        attempts=row.attempts,
        first_seen=row.first_seen,
        last_seen=row.last_seen,
        claim=_claim(row),
    )


def to_event(row: AnyRow, incident_id: str) -> TimelineEvent:
    return TimelineEvent(
        id=row.id,
        incident_id=incident_id,
        at=row.at,
        actor=row.actor,
        event=row.event,
        detail=dict(row.detail or {}),
        trace_id=row.trace_id,
    )


# One encoder for every cursor: json.dumps with separators builds a new one on each call.
_CURSOR_JSON = json.JSONEncoder(separators=(",", ":"))


def encode_cursor(values: list[Any]) -> str:
    plain = [v.isoformat() if isinstance(v, datetime) else v for v in values]
    return base64.urlsafe_b64encode(_CURSOR_JSON.encode(plain).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, shape: tuple[type, ...]) -> list[Any]:
    """The values packed in a cursor, checked against the expected types."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(values, list) or len(values) != len(shape):
            raise ValueError("wrong length")
        out: list[Any] = []
        for value, kind in zip(values, shape, strict=True):
            if kind is datetime:
                out.append(datetime.fromisoformat(value))
            elif not isinstance(value, kind):
                raise ValueError("wrong type")
            elif isinstance(value, int) and not -(2**63) <= value < 2**63:
                raise ValueError("beyond 64 bits")  # no database column holds it
            else:
                if isinstance(value, str):
                    value.encode()  # a lone surrogate raises UnicodeEncodeError, a ValueError
                out.append(value)
        return out
    except (ValueError, TypeError, json.JSONDecodeError) as exc:
        raise InvalidInput(
            "cursor is not one this server handed out; pass the next_cursor of the previous page unchanged, "
            "or omit it to start from the first page",
            field="cursor",
        ) from exc
