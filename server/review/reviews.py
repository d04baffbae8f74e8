"""The review loop's core: what reviewers, CI, merges and people say about a fix, applied to its incident.

GitHub webhooks (``server.review.github_webhook``) and the local forge's reviewer commands (``healer pr
review | comment | merge | close``) both turn what happened into ``ReviewEvent``s and call
``apply``: one code path, whichever forge. Verdicts are keyed on the commit they reviewed; a
verdict on an older commit than the PR's head is kept but marked stale and moves nothing.
Findings from authors outside the allow-list are kept as untrusted text, never as tasks.
CodeRabbit reviews as "commented" and counts what it asks for in its body ("Actionable comments
posted: N"): N > 0 counts as a request for changes, N == 0 as a plain comment.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Literal, Protocol

from pydantic import BaseModel, Field
from sqlalchemy import Connection, insert, select, update

from fixer.errors import FixerError
from server.common.redact import redact
from server.lifecycle import ReviewState
from server.models import Status
from server.review.models import Finding, FixFeedback, Verdict
from server.review.text import actionable_comments, prompt_for_agents, suggestion_of
from server.store import Store, queries, writes
from server.store.reviews_schema import findings
from server.store.rows import AnyRow, public_id
from server.store.schema import incidents, timeline

Kind = Literal[
    "pr_merged",
    "pr_closed",
    "pr_reopened",
    "pr_pushed",
    "pr_ready",
    "pr_draft",
    "verdict",
    "verdict_dismissed",
    "finding",
    "thread",
    "check",
    "command",
]
OPEN_REVIEW = {Status.pr_open, Status.in_review, Status.approved, Status.changes_requested}
FAILING = {"failure", "timed_out", "cancelled", "action_required", "startup_failure"}
#: The timeline event the fixer records just before it pushes a commit (detail: ``commit``).
PUSHING = "pushing"
log = logging.getLogger(__name__)


class ReviewEvent(BaseModel):
    kind: Kind
    incident_id: str
    number: int
    actor: str = Field(description="github:LOGIN or human:NAME")
    trusted: bool = True
    head_sha: str | None = None
    state: str | None = None
    commit_sha: str | None = None
    body: str = ""
    file: str | None = None
    line: int | None = None
    url: str | None = None
    external_id: str | None = None
    thread_id: str | None = None
    resolved: bool = False
    name: str | None = None
    command: str | None = None


class ForgeActions(Protocol):
    """What the loop asks of the forge: say something on the PR, and acknowledge a command."""

    def comment(self, number: int, body: str) -> None: ...

    def acknowledge(self, number: int, comment_id: str) -> None: ...


def _finding(connection: Connection, row: AnyRow, event: ReviewEvent, kind: str, now: datetime, **values: Any) -> None:
    body = redact(event.body[:20_000])
    connection.execute(
        insert(findings).values(
            incident_pk=row.pk,
            pr_number=event.number,
            kind=kind,
            author=event.actor.split(":", 1)[-1],
            state=values.get("state", event.state),
            commit_sha=event.commit_sha or event.head_sha,
            file=event.file,
            line=event.line,
            body=body,
            suggestion=suggestion_of(body),
            prompt=prompt_for_agents(body),
            url=event.url,
            external_id=values.get("external_id", event.external_id),
            thread_id=event.thread_id,
            resolved=values.get("resolved", False),
            trusted=event.trusted,
            at=now,
        )
    )


def _move(
    connection: Connection,
    row: AnyRow,
    to: Status,
    event: ReviewEvent,
    now: datetime,
    name: str,
    detail: dict[str, Any],
    updates: dict[str, Any] | None = None,
) -> AnyRow:
    return writes.transition(
        connection,
        public_id(row),
        to,
        now=now,
        actor=event.actor,
        event=name,
        detail={"pr": event.number, **detail},
        updates=updates or {},
        row=row,
    )


def _note(
    connection: Connection, row: AnyRow, event: ReviewEvent, now: datetime, name: str, detail: dict[str, Any]
) -> None:
    writes.record_event(
        connection,
        row.pk,
        now=now,
        actor=event.actor,
        event=name,
        detail={"pr": event.number, **detail},
        trace_id=row.trace_id,
    )


def apply(store: Store, event: ReviewEvent, forge: ForgeActions | None = None) -> str:
    """Apply one event to its incident in its own transaction; then act on the forge if asked."""
    with store.write() as connection:
        outcome = apply_in(connection, event, store.clock.now())
    after(store, event, outcome, forge)
    return outcome


def apply_in(connection: Connection, event: ReviewEvent, now: datetime) -> str:
    """Apply one event inside the caller's transaction; returns what happened."""
    row = queries.incident_row(connection, event.incident_id, for_update=True)
    if row.pr_number is not None and row.pr_number != event.number:
        return f"ignored: the incident's pull request is #{row.pr_number}, not #{event.number}"
    return _apply(connection, row, Status(row.status), event, now)


def after(store: Store, event: ReviewEvent, outcome: str, forge: ForgeActions | None) -> None:
    """What the forge is asked after the commit: acknowledge a command, answer /healer explain."""
    if event.kind != "command" or forge is None or not outcome.startswith("command"):
        return
    try:
        if event.external_id:
            forge.acknowledge(event.number, event.external_id)
        if event.command == "explain":
            forge.comment(event.number, redact(explain(store, event.incident_id)))
    except FixerError as exc:  # the command was applied; only the answer on the PR is missing
        log.warning("could not answer /healer %s on PR #%s: %s", event.command, event.number, exc.message)


def _apply(connection: Connection, row: AnyRow, status: Status, event: ReviewEvent, now: datetime) -> str:
    kind = event.kind
    if kind == "pr_merged":
        if status not in OPEN_REVIEW:
            return f"ignored: incident is {status.value}"
        _move(
            connection,
            row,
            Status.merged,
            event,
            now,
            "pr_merged",
            {"head": event.head_sha, "merge_commit": event.commit_sha},
            {"merged_at": now, "review_state": ReviewState.merged, "merge_commit": event.commit_sha},
        )
        return "merged"
    if kind == "pr_closed":
        if status not in OPEN_REVIEW:
            return f"ignored: incident is {status.value}"
        _move(
            connection,
            row,
            Status.fix_rejected,
            event,
            now,
            "pr_closed",
            {"why": "closed without merging; no new PR until the fault shows up again"},
            {"pr_closed_at": now, "review_state": ReviewState.closed},
        )
        return "fix_rejected"
    if kind == "pr_reopened":
        if status != Status.fix_rejected:
            return f"ignored: incident is {status.value}"
        _move(connection, row, Status.in_review, event, now, "pr_reopened", {}, {"pr_closed_at": None})
        return "in_review"
    if kind == "pr_pushed":
        # The bot's own push: sent by its login, or landing on the commit the fixer recorded as the head
        # (a token's login need not match HEALER_BOT_NAME; the commit still tells).
        if (event.trusted and event.actor.endswith("[bot]")) or (event.head_sha and event.head_sha == row.pr_head_sha):
            return "own push"
        if event.head_sha and _pushed_by_the_bot(connection, row, event.head_sha):
            # The webhook beat the fixer's own record of the new head: the push is real, so the head moved.
            connection.execute(update(incidents).where(incidents.c.pk == row.pk).values(pr_head_sha=event.head_sha))
            return "own push"
        connection.execute(update(incidents).where(incidents.c.pk == row.pk).values(pr_head_sha=event.head_sha))
        _note(
            connection,
            row,
            event,
            now,
            "taken_over",
            {"head": event.head_sha, "why": f"{event.actor} pushed to the bot's branch; the bot will only comment"},
        )
        return "taken_over"
    if kind in ("pr_ready", "pr_draft"):
        _note(connection, row, event, now, "ready_for_review" if kind == "pr_ready" else "converted_to_draft", {})
        return kind
    if kind == "verdict":
        return _verdict(connection, row, status, event, now)
    if kind == "verdict_dismissed":
        connection.execute(
            update(findings)
            .where(findings.c.incident_pk == row.pk, findings.c.external_id == event.external_id)
            .values(state="dismissed", resolved=True)
        )
        _note(connection, row, event, now, "review_dismissed", {"review": event.external_id})
        return "dismissed"
    if kind == "finding":
        _finding(connection, row, event, "comment", now)
        _note(
            connection, row, event, now, "finding", {"file": event.file, "line": event.line, "trusted": event.trusted}
        )
        return "finding"
    if kind == "thread":
        connection.execute(
            update(findings)
            .where(findings.c.incident_pk == row.pk, findings.c.thread_id == event.thread_id)
            .values(resolved=event.resolved)
        )
        return _maybe_cleared(connection, row, status, event, now)
    if kind == "check":
        return _check(connection, row, status, event, now)
    if kind == "command":
        return _command(connection, row, status, event, now)
    return "ignored"


def _pushed_by_the_bot(connection: Connection, row: AnyRow, head: str) -> bool:
    """Whether the fixer announced ``head`` as the commit it was about to push (its latest few pushes)."""
    recent = connection.execute(
        select(timeline.c.detail)
        .where(timeline.c.incident_pk == row.pk, timeline.c.event == PUSHING)
        .order_by(timeline.c.id.desc())
        .limit(5)
    ).all()
    return any((item.detail or {}).get("commit") == head for item in recent)


def _verdict(connection: Connection, row: AnyRow, status: Status, event: ReviewEvent, now: datetime) -> str:
    state = (event.state or "").lower()
    stale = bool(row.pr_head_sha and event.commit_sha and event.commit_sha != row.pr_head_sha)
    # CodeRabbit always reviews as "commented"; its body's count says whether it asked for anything.
    actionable = actionable_comments(event.actor, event.body) if state == "commented" else None
    asks = state == "changes_requested" or bool(actionable)
    _finding(connection, row, event, "verdict", now, state=state, resolved=not asks)
    if stale:
        _note(
            connection,
            row,
            event,
            now,
            "review_stale",
            {"state": state, "commit": event.commit_sha, "head": row.pr_head_sha},
        )
        return "stale verdict"
    if not event.trusted:
        _note(connection, row, event, now, "review_untrusted", {"state": state})
        return "untrusted verdict"
    if asks and status in OPEN_REVIEW - {Status.changes_requested}:
        detail: dict[str, Any] = {"reviewer": event.actor}
        if actionable is not None:
            detail["actionable_comments"] = actionable
        _move(
            connection,
            row,
            Status.changes_requested,
            event,
            now,
            "changes_requested",
            detail,
            {"review_state": ReviewState.changes_requested},
        )
        return "changes_requested" if actionable is None else f"changes_requested ({actionable} actionable comments)"
    if state == "approved" and status in {Status.pr_open, Status.in_review, Status.changes_requested}:
        _move(
            connection,
            row,
            Status.approved,
            event,
            now,
            "approved_by_reviewer",
            {"reviewer": event.actor},
            {"review_state": ReviewState.approved},
        )
        return "approved"
    if state == "commented" and status == Status.pr_open:
        _move(
            connection,
            row,
            Status.in_review,
            event,
            now,
            "reviewed",
            {"reviewer": event.actor},
            {"review_state": ReviewState.commented},
        )
        return "in_review"
    _note(connection, row, event, now, "review", {"state": state})
    return "recorded"


def _maybe_cleared(connection: Connection, row: AnyRow, status: Status, event: ReviewEvent, now: datetime) -> str:
    open_items = connection.execute(
        select(findings.c.id).where(
            findings.c.incident_pk == row.pk,
            findings.c.resolved.is_(False),
            findings.c.kind == "comment",
        )
    ).first()
    if open_items is None and status == Status.changes_requested:
        _move(
            connection, row, Status.in_review, event, now, "feedback_cleared", {}, {"review_state": ReviewState.cleared}
        )
        return "feedback cleared"
    return "thread updated"


def _check(connection: Connection, row: AnyRow, status: Status, event: ReviewEvent, now: datetime) -> str:
    conclusion = (event.state or "").lower()
    if row.pr_head_sha and event.head_sha and event.head_sha != row.pr_head_sha:
        return "ignored: check on an older commit"
    if conclusion not in FAILING:
        connection.execute(
            update(findings)
            .where(findings.c.incident_pk == row.pk, findings.c.kind == "check", findings.c.external_id == event.name)
            .values(resolved=True)
        )
        return f"check {conclusion or 'passed'}"
    # A check's name is its external_id (a later green run of the same name resolves it), its conclusion its state.
    _finding(connection, row, event, "check", now, state=conclusion, external_id=event.name)
    if status in {Status.pr_open, Status.in_review, Status.approved}:
        _move(
            connection,
            row,
            Status.changes_requested,
            event,
            now,
            "check_failed",
            {"check": event.name, "conclusion": conclusion},
            {"review_state": ReviewState.checks_failed},
        )
        return "changes_requested (failing check)"
    return "check failure recorded"


def _command(connection: Connection, row: AnyRow, status: Status, event: ReviewEvent, now: datetime) -> str:
    if not event.trusted:
        _note(
            connection,
            row,
            event,
            now,
            "command_refused",
            {"command": event.command, "why": "only people with write access may command the bot"},
        )
        return "refused: no write access"
    if event.command == "retry":
        if status in (Status.dead_letter, Status.fix_rejected, Status.escalated, Status.changes_requested):
            to = Status.pending if status != Status.changes_requested else Status.changes_requested
            if to != status:
                _move(
                    connection,
                    row,
                    to,
                    event,
                    now,
                    "retried",
                    {"command": "/healer retry"},
                    {"attempts": 0, "not_before": None},
                )
            return "command retry"
        return f"command retry ignored: incident is {status.value}"
    if event.command == "stop":
        if status in OPEN_REVIEW | {Status.pending, Status.claimed}:
            _move(connection, row, Status.escalated, event, now, "stopped", {"command": "/healer stop"})
        return "command stop"
    if event.command == "explain":
        _note(connection, row, event, now, "explain_requested", {})
        return "command explain"
    return "ignored"


def feedback(store: Store, incident_id: str) -> FixFeedback:
    with store.read() as connection:
        row = queries.incident_row(connection, incident_id)
        rows = connection.execute(
            select(findings).where(findings.c.incident_pk == row.pk).order_by(findings.c.id)
        ).all()
    latest: dict[str, AnyRow] = {}
    for item in rows:
        if item.kind == "verdict":
            latest[item.author] = item
    verdicts = [
        Verdict(
            reviewer=author,
            state=item.state or "",
            commit=item.commit_sha,
            stale=bool(row.pr_head_sha and item.commit_sha and item.commit_sha != row.pr_head_sha),
            actionable_comments=actionable_comments(author, item.body) if item.state == "commented" else None,
        )
        for author, item in latest.items()
    ]

    def finding(item: AnyRow) -> Finding:
        body = item.body if item.trusted else f"[untrusted text from {item.author}, not a task] {item.body}"
        is_check = item.kind == "check"
        return Finding(
            author=item.author,
            kind=item.kind,
            trusted=item.trusted,
            file=item.file,
            line=item.line,
            body=body,
            suggestion=item.suggestion if item.trusted else None,
            prompt_for_agents=item.prompt if item.trusted else None,
            url=item.url,
            resolved=item.resolved,
            check_name=item.external_id if is_check else None,
            conclusion=item.state if is_check else None,
            summary=item.body if is_check else None,
            details_url=item.url if is_check else None,
        )

    comments = [finding(item) for item in rows if item.kind == "comment" and not item.resolved]
    checks = [finding(item) for item in rows if item.kind == "check" and not item.resolved]
    status = Status(row.status)
    if status == Status.changes_requested:
        steps = (
            "Reviewers asked for changes. claim_incident, read the files the findings name with "
            "get_repository_context, then submit_fix with a change against the PR branch and `addresses` listing "
            "the findings you fixed; it pushes to the same pull request."
        )
    elif status in (Status.pr_open, Status.in_review, Status.approved):
        steps = "The pull request is in review; nothing to do until reviewers ask for changes."
    else:
        steps = f"The incident is {status.value}."
    return FixFeedback(
        incident_id=incident_id,
        status=status,
        pull_request_url=row.pr_url,
        pull_request_number=row.pr_number,
        head_commit=row.pr_head_sha,
        verdicts=verdicts,
        findings=comments,
        failing_checks=checks,
        next_steps=steps,
    )


def explain(store: Store, incident_id: str) -> str:
    incident = store.get(incident_id)
    events = store.timeline(incident_id)
    started = [e for e in events if e.event == "fix_started"]
    agent = started[-1].actor if started else "an agent"
    return (
        f"devops-healer, about {incident_id} ({incident.service}, {incident.severity.value}): "
        f"{incident.summary or incident.title}. The fix was made by {agent}; the root cause as it explained it is in "
        "the pull request description. Commands: `/healer retry`, `/healer stop`, `/healer explain`."
    )
