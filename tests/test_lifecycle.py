"""The state machine table: legal moves pass, anything else is refused naming the state."""

from __future__ import annotations

import pytest

from server import lifecycle
from server.errors import InvalidReviewMove, InvalidTransition
from server.models import Status


@pytest.mark.parametrize(
    ("frm", "to"),
    [
        (Status.pending, Status.claimed),  # an agent takes the lease
        (Status.claimed, Status.fixing),  # submit_fix starts
        (Status.fixing, Status.pr_open),
        (Status.pr_open, Status.merged),
        (Status.merged, Status.verified),
        (Status.dead_letter, Status.pending),  # a human retries
        (Status.changes_requested, Status.claimed),  # follow-up round
        (Status.claimed, Status.resolved_by_source),  # the monitor said resolved first
    ],
)
def test_allowed(frm: Status, to: Status) -> None:
    assert lifecycle.check("INC-1", frm, to)


@pytest.mark.parametrize(
    ("frm", "to"),
    [
        (Status.pending, Status.merged),  # no PR exists yet
        (Status.verified, Status.pending),  # closed incidents stay closed
        (Status.merged, Status.resolved_by_source),  # after a merge, resolution is verification's job
        (Status.resolved, Status.claimed),
    ],
)
def test_refused_with_the_state_named(frm: Status, to: Status) -> None:
    with pytest.raises(InvalidTransition, match=f"is {frm.value}; it cannot move to {to.value}"):
        lifecycle.check("INC-1", frm, to)


def test_every_state_but_the_closed_ones_can_be_left() -> None:
    for state in Status:
        if state in (Status.verified, Status.resolved, Status.resolved_by_source):
            assert lifecycle.allowed_from(state) == []
        else:
            assert lifecycle.allowed_from(state), state


R = lifecycle.ReviewState


@pytest.mark.parametrize(
    ("frm", "to"),
    [
        (None, R.commented),  # the first review of a new pull request
        (None, R.changes_requested),
        (R.commented, R.approved),
        (R.approved, R.checks_failed),  # a check failed after the approval
        (R.changes_requested, R.cleared),  # every thread asking for changes was resolved
        (R.changes_requested, R.changes_requested),  # asked again after a follow-up the agent reported itself
        (R.checks_failed, None),  # a follow-up push starts the review over
        (R.closed, R.merged),  # reopened, then merged
        (R.approved, R.merged),
        (R.merged, R.verified),
        (R.merged, R.regressed),
        (None, R.verified),  # marked merged by hand, verified without a review
        (R.regressed, R.commented),  # the retry's new pull request is reviewed
    ],
)
def test_review_moves_allowed(frm: lifecycle.ReviewState | None, to: lifecycle.ReviewState | None) -> None:
    assert lifecycle.check_review("INC-1", frm, to)


@pytest.mark.parametrize(
    ("frm", "to"),
    [
        (R.verified, R.commented),  # a verified fix's review is over
        (R.verified, None),
        (R.merged, R.approved),  # a merged pull request is not reviewed again
        (R.merged, R.closed),
        (R.merged, R.changes_requested),
    ],
)
def test_review_moves_refused_with_the_state_named(
    frm: lifecycle.ReviewState | None, to: lifecycle.ReviewState | None
) -> None:
    wanted = to.value if to is not None else "none"
    with pytest.raises(InvalidReviewMove, match=f"is {frm}; it cannot become {wanted}"):
        lifecycle.check_review("INC-1", frm, to)


def test_review_state_keeps_its_stored_strings() -> None:
    """A StrEnum: rows written before the enum read back the same."""
    assert [state.value for state in R] == [
        "commented",
        "changes_requested",
        "checks_failed",
        "approved",
        "cleared",
        "closed",
        "merged",
        "verified",
        "regressed",
    ]
    assert R("checks_failed") == "checks_failed"


@pytest.mark.parametrize(
    ("review", "attempt", "permanent", "to"),
    [
        (None, 1, False, Status.pending),  # attempts left: back to the queue
        (R.changes_requested, 1, False, Status.changes_requested),  # a follow-up round stays one
        (R.checks_failed, 1, False, Status.pending),
        (None, 3, False, Status.dead_letter),  # the budget (3) is spent
        (R.changes_requested, 3, False, Status.dead_letter),
        (None, 1, True, Status.dead_letter),  # retrying a permanent failure cannot help
    ],
)
def test_where_a_failed_attempt_goes(review: str | None, attempt: int, permanent: bool, to: Status) -> None:
    assert lifecycle.after_failed_attempt(review, attempt=attempt, max_attempts=3, permanent=permanent) == to


@pytest.mark.parametrize(
    ("review", "to"),
    [
        (None, Status.pending),
        ("changes_requested", Status.changes_requested),  # as stored: a plain string
        (R.approved, Status.pending),
    ],
)
def test_where_a_released_incident_waits(review: str | None, to: Status) -> None:
    assert lifecycle.requeued(review) == to
