"""Where an incident is in the pipeline: each status as a stage with a label and an icon, never colour alone."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from server.models import Status

S = Status


class Stage(StrEnum):
    new = "new"
    triaged = "triaged"
    agent_working = "agent_working"
    pr_open = "pr_open"
    in_review = "in_review"
    merged = "merged"
    verified = "verified"
    closed = "closed"
    stuck = "stuck"


@dataclass(frozen=True)
class StageInfo:
    label: str
    icon: str  # the id of an SVG symbol in the page's sprite
    order: int


STAGES: dict[Stage, StageInfo] = {
    Stage.new: StageInfo("New", "i-new", 0),
    Stage.triaged: StageInfo("Triaged", "i-triaged", 1),
    Stage.agent_working: StageInfo("Agent working", "i-working", 2),
    Stage.pr_open: StageInfo("PR open", "i-pr", 3),
    Stage.in_review: StageInfo("In review", "i-review", 4),
    Stage.merged: StageInfo("Merged", "i-merged", 5),
    Stage.verified: StageInfo("Verified", "i-verified", 6),
    Stage.closed: StageInfo("Closed", "i-closed", 7),
    Stage.stuck: StageInfo("Stuck", "i-stuck", 8),
}

#: Every status in exactly one stage. Stuck ones wait for a person.
STAGE_OF: dict[Status, Stage] = {
    S.received: Stage.new,
    S.triaged: Stage.triaged,
    S.pending: Stage.triaged,
    S.monitoring: Stage.triaged,
    S.regressed: Stage.triaged,
    S.claimed: Stage.agent_working,
    S.fixing: Stage.agent_working,
    S.pr_open: Stage.pr_open,
    S.in_review: Stage.in_review,
    S.changes_requested: Stage.in_review,
    S.approved: Stage.in_review,
    S.merged: Stage.merged,
    S.verified: Stage.verified,
    S.resolved: Stage.closed,
    S.resolved_by_source: Stage.closed,
    S.escalated: Stage.stuck,
    S.dead_letter: Stage.stuck,
    S.awaiting_approval: Stage.stuck,
    S.fix_rejected: Stage.stuck,
}

STATUS_LABELS: dict[Status, str] = {
    S.received: "Received",
    S.triaged: "Triaged",
    S.pending: "Waiting for an agent",
    S.monitoring: "Monitoring",
    S.escalated: "Escalated",
    S.awaiting_approval: "Awaiting approval",
    S.claimed: "Claimed",
    S.fixing: "Fixing",
    S.pr_open: "PR open",
    S.in_review: "In review",
    S.changes_requested: "Changes requested",
    S.approved: "Approved",
    S.merged: "Merged",
    S.verified: "Verified",
    S.regressed: "Regressed",
    S.fix_rejected: "Fix rejected",
    S.dead_letter: "Dead letter",
    S.resolved_by_source: "Resolved by source",
    S.resolved: "Resolved",
}


def stage_of(status: Status) -> Stage:
    return STAGE_OF[status]


def statuses_in(stages: list[Stage]) -> list[Status]:
    """The statuses of some stages, in lifecycle order (a stage filter is a status filter)."""
    return [status for status in Status if STAGE_OF[status] in stages]


def describe(status: Status) -> dict[str, str]:
    """What a page or the live feed shows for a status: its label, stage, stage label and icon."""
    stage = STAGE_OF[status]
    info = STAGES[stage]
    return {
        "status": status.value,
        "status_label": STATUS_LABELS[status],
        "stage": stage.value,
        "stage_label": info.label,
        "icon": info.icon,
    }
