"""The incident state machine: the one table of allowed moves, and its pull request's review state.

Every other module asks the store to move an incident (``Store.transition``), which checks
this table and writes a timeline event in the same transaction; nothing else writes
``status``. The table follows DESIGN.md's lifecycle, plus ``resolved`` for a person closing
an incident by hand. A move that also sets ``review_state`` is checked against
``REVIEW_TRANSITIONS`` in the same call.
"""

from __future__ import annotations

from enum import StrEnum

from server.errors import InvalidReviewMove, InvalidTransition
from server.models import CLOSED_STATUSES, Status

S = Status

# States in which the incident is still open and has not reached a merged fix.
_BEFORE_MERGE: frozenset[Status] = frozenset(
    {
        S.received,
        S.triaged,
        S.pending,
        S.monitoring,
        S.escalated,
        S.awaiting_approval,
        S.claimed,
        S.fixing,
        S.pr_open,
        S.in_review,
        S.changes_requested,
        S.approved,
        S.regressed,
        S.dead_letter,
        S.fix_rejected,
    }
)

#: (from, to) -> when it happens. Read it as DESIGN.md's table.
TRANSITIONS: dict[tuple[Status, Status], str] = {
    (S.received, S.triaged): "classified and routed",
    (S.received, S.pending): "accepted straight into the agents' queue (no triage configured)",
    (S.triaged, S.pending): "route auto_fix",
    (S.triaged, S.monitoring): "route monitor",
    (S.triaged, S.escalated): "route escalate",
    (S.triaged, S.awaiting_approval): "route approval",
    (S.awaiting_approval, S.pending): "approved",
    (S.awaiting_approval, S.fixing): "approved; the held fix goes on",
    (S.awaiting_approval, S.escalated): "denied or expired",
    (S.pending, S.claimed): "an agent takes the lease",
    (S.pending, S.escalated): "a person takes it over",
    (S.claimed, S.pending): "lease expired or released",
    (S.claimed, S.changes_requested): "lease expired or released during a follow-up round",
    (S.claimed, S.fixing): "submit_fix starts",
    (S.claimed, S.pr_open): "the agent reports a PR it opened itself",
    (S.claimed, S.escalated): "the agent or a person hands it to humans",
    (S.claimed, S.dead_letter): "the agent reported a failure, attempt budget spent",
    (S.fixing, S.pr_open): "branch pushed, PR opened or updated",
    (S.fixing, S.pending): "fix failed (or its process died), attempts left",
    (S.fixing, S.claimed): "fix refused before anything was written; the agent keeps its lease",
    (S.fixing, S.changes_requested): "a follow-up fix failed; the review feedback still stands",
    (S.fixing, S.dead_letter): "fix failed, attempt budget spent",
    (S.fixing, S.escalated): "fix failed, attempt budget spent (no dead-letter queue)",
    (S.fixing, S.awaiting_approval): "the fix touches something that needs a person's yes",
    (S.pr_open, S.in_review): "a review or CI result arrived",
    (S.pr_open, S.changes_requested): "a reviewer asked for changes",
    (S.pr_open, S.approved): "a reviewer approved",
    (S.in_review, S.changes_requested): "a reviewer asked for changes",
    (S.in_review, S.approved): "a reviewer approved",
    (S.approved, S.changes_requested): "a later review asked for changes",
    (S.approved, S.in_review): "new commits made the approval stale",
    (S.changes_requested, S.claimed): "an agent takes the follow-up round",
    (S.changes_requested, S.in_review): "the feedback was cleared",
    (S.changes_requested, S.approved): "a reviewer approved",
    (S.pr_open, S.merged): "PR merged",
    (S.in_review, S.merged): "PR merged",
    (S.approved, S.merged): "PR merged",
    (S.changes_requested, S.merged): "PR merged",
    (S.pr_open, S.fix_rejected): "PR closed unmerged",
    (S.in_review, S.fix_rejected): "PR closed unmerged",
    (S.approved, S.fix_rejected): "PR closed unmerged",
    (S.changes_requested, S.fix_rejected): "PR closed unmerged",
    (S.fix_rejected, S.in_review): "PR reopened",
    (S.merged, S.verified): "quiet window passed or the monitor resolved",
    (S.merged, S.regressed): "fired again inside the quiet window",
    (S.regressed, S.pending): "reopened for another fix",
    (S.dead_letter, S.pending): "a person retries",
    (S.fix_rejected, S.pending): "a person retries, or new evidence arrived",
    (S.escalated, S.pending): "a person hands it back to the agents",
    (S.escalated, S.triaged): "a person re-runs triage (the configuration now maps its service)",
    (S.monitoring, S.pending): "a person hands it to the agents",
    (S.monitoring, S.escalated): "a person escalates",
    # A person takes an incident over from the bot (the dashboard's escalate, /healer stop).
    (S.regressed, S.escalated): "a person takes it over",
    (S.pr_open, S.escalated): "a person takes it over",
    (S.in_review, S.escalated): "a person takes it over",
    (S.approved, S.escalated): "a person takes it over",
    (S.changes_requested, S.escalated): "a person takes it over",
    (S.dead_letter, S.escalated): "a person takes it over",
    (S.fix_rejected, S.escalated): "a person takes it over",
}

#: Timeline events that move no state, where a state has parts. ``merged`` with ``start = "deploy"``
#: waits for ``deployed`` (``deployed_at`` set) before its quiet window starts; the moves out of it
#: (``verified``, ``regressed``) stay the table's above.
NOTES: dict[str, str] = {
    "deployed": "merged: a deployment containing the merge commit succeeded; the quiet window starts",
    "deploy_ignored": "merged: a deployment of a sha without the merge commit; still waiting",
    "revert_opened": "pending after regressed: a revert pull request was opened (on_regression = revert)",
    "revert_failed": "pending after regressed: the revert could not be opened; the incident is reopened anyway",
}

for _state in _BEFORE_MERGE:
    TRANSITIONS.setdefault((_state, S.resolved_by_source), "the monitor said resolved first")
for _state in _BEFORE_MERGE | {S.merged}:
    TRANSITIONS.setdefault((_state, S.resolved), "a person resolved it")


def allowed_from(state: Status) -> list[Status]:
    """Where an incident in ``state`` may go next."""
    return sorted({to for (frm, to) in TRANSITIONS if frm == state})


def check(incident_id: str, current: Status, wanted: Status) -> str:
    """The reason for a legal move, or InvalidTransition naming the state and the legal moves."""
    reason = TRANSITIONS.get((current, wanted))
    if reason is None:
        raise InvalidTransition(incident_id, current.value, wanted.value, [s.value for s in allowed_from(current)])
    return reason


def is_open(state: Status) -> bool:
    """Open incidents absorb repeats of their fingerprint as occurrences."""
    return state not in CLOSED_STATUSES


#: What agents may claim: new work, and PRs whose reviewers asked for changes.
CLAIMABLE: frozenset[Status] = frozenset({S.pending, S.changes_requested})


class ReviewState(StrEnum):
    """What the incident's pull request last heard from its review (``None``: nothing yet, or a new PR)."""

    commented = "commented"
    changes_requested = "changes_requested"
    checks_failed = "checks_failed"
    approved = "approved"
    cleared = "cleared"
    closed = "closed"
    merged = "merged"
    verified = "verified"
    regressed = "regressed"


R = ReviewState

#: Review states of a pull request that may still be reviewed, merged or replaced. ``closed`` and
#: ``regressed`` are among them: a closed PR can be reopened, and a retry can report a PR of its own.
_UNDER_REVIEW: frozenset[ReviewState | None] = frozenset(
    {None, R.commented, R.changes_requested, R.checks_failed, R.approved, R.cleared, R.closed, R.regressed}
)

#: (from, to) -> when it happens, for the pull request's review state; ``None`` is "no review yet".
REVIEW_TRANSITIONS: dict[tuple[ReviewState | None, ReviewState | None], str] = {
    (R.merged, R.verified): "quiet window passed or the monitor resolved",
    (R.merged, R.regressed): "fired again inside the quiet window; reopened",
    (R.merged, None): "a new pull request for the reopened incident",
}
for _review in _UNDER_REVIEW:
    for _to, _why in (
        (None, "a new or updated pull request; its review starts over"),
        (R.commented, "a reviewer commented"),
        (R.changes_requested, "a reviewer asked for changes"),
        (R.checks_failed, "a check failed on the pull request's head"),
        (R.approved, "a reviewer approved"),
        (R.cleared, "every review thread asking for changes was resolved"),
        (R.closed, "PR closed unmerged"),
        (R.merged, "PR merged"),
        # Verification needs no review: an incident can be marked merged by hand.
        (R.verified, "quiet window passed or the monitor resolved"),
        (R.regressed, "fired again inside the quiet window; reopened"),
    ):
        REVIEW_TRANSITIONS.setdefault((_review, _to), _why)


def _review_name(state: ReviewState | None) -> str:
    return state.value if state is not None else "none"


def to_review_state(value: str | None) -> ReviewState | None:
    """The stored review state as the enum (``None`` stays ``None``)."""
    return ReviewState(value) if value is not None else None


def allowed_review_from(state: ReviewState | None) -> list[ReviewState | None]:
    """Where a pull request's review state may go next."""
    moves = {to for (frm, to) in REVIEW_TRANSITIONS if frm == state}
    return sorted(moves, key=_review_name)


def check_review(incident_id: str, current: str | None, wanted: str | None) -> str:
    """The reason for a legal review-state move, or InvalidReviewMove naming the state and the legal moves."""
    frm, to = to_review_state(current), to_review_state(wanted)
    reason = REVIEW_TRANSITIONS.get((frm, to))
    if reason is None:
        raise InvalidReviewMove(
            incident_id, _review_name(frm), _review_name(to), [_review_name(s) for s in allowed_review_from(frm)]
        )
    return reason


def requeued(review: str | None) -> Status:
    """Where an incident waits when its lease is given back or an attempt failed with attempts left:
    a follow-up round on a PR whose reviewers asked for changes stays a follow-up round."""
    return S.changes_requested if review == ReviewState.changes_requested else S.pending


def after_failed_attempt(review: str | None, *, attempt: int, max_attempts: int, permanent: bool) -> Status:
    """Where a failed attempt sends an incident: the dead-letter queue once retrying cannot help, else the queue."""
    if permanent or attempt >= max_attempts:
        return S.dead_letter
    return requeued(review)
