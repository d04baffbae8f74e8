"""A run's states and outcomes: the one table of allowed moves, as server/lifecycle.py is for incidents."""

from __future__ import annotations

from enum import StrEnum

from server.errors import InvalidRunTransition


class RunStatus(StrEnum):
    queued = "queued"  # asked for; waits for its agent's slot and the hourly budget
    running = "running"  # the agent process is alive and its token is valid
    fixed = "fixed"  # submit_fix opened or updated a pull request
    reported = "reported"  # report_fix_status without a fix (failed, needs review, a PR of its own)
    no_result = "no_result"  # exited without either
    timed_out = "timed_out"  # killed at timeout_minutes
    crashed = "crashed"  # non-zero exit, or the server that ran it stopped
    cancelled = "cancelled"  # a person stopped it, or its cost passed max_cost_usd


R = RunStatus

#: Outcomes: a run in one of these is over and its token refused.
ENDED: frozenset[RunStatus] = frozenset({R.fixed, R.reported, R.no_result, R.timed_out, R.crashed, R.cancelled})
#: Runs that hold a slot or will: the incident has work under way.
ACTIVE: frozenset[RunStatus] = frozenset({R.queued, R.running})

#: (from, to) -> when it happens.
TRANSITIONS: dict[tuple[RunStatus, RunStatus], str] = {
    (R.queued, R.running): "its agent had a free slot and the hourly budget allowed it",
    (R.queued, R.cancelled): "a person cancelled it, or the incident stopped waiting for an agent",
    (R.running, R.fixed): "submit_fix opened or updated a pull request",
    (R.running, R.reported): "the agent called report_fix_status",
    (R.running, R.no_result): "the agent exited without a fix or a report",
    (R.running, R.timed_out): "killed at its timeout",
    (R.running, R.crashed): "the agent exited non-zero, or its server stopped",
    (R.running, R.cancelled): "a person stopped it, or its reported cost passed the cap",
}


def check(run_id: str, current: RunStatus, wanted: RunStatus) -> str:
    reason = TRANSITIONS.get((current, wanted))
    if reason is None:
        allowed = [to.value for (frm, to) in TRANSITIONS if frm == current]
        raise InvalidRunTransition(run_id, current.value, wanted.value, allowed)
    return reason


def decide(
    *,
    pushed: bool,
    reported: bool,
    cancelled: bool,
    timed_out: bool,
    exit_code: int | None,
    lost: bool = False,
) -> RunStatus:
    """What a finished run amounts to. What the agent did through MCP comes first: a pull request
    opened or updated is a fix even if the process then timed out or crashed."""
    if pushed:
        return R.fixed
    if reported:
        return R.reported
    if cancelled:
        return R.cancelled
    if timed_out:
        return R.timed_out
    if lost or exit_code not in (0, None):
        return R.crashed
    return R.no_result
