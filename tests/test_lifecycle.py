"""The state machine table: legal moves pass, anything else is refused naming the state."""

from __future__ import annotations

import pytest

from server import lifecycle
from server.errors import InvalidTransition
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
