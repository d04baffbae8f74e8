"""How fast the loop runs: detected -> PR opened -> merged -> verified, read from timeline timestamps.

A milestone is a timeline row: a pull request opened (``pr_opened`` by the fixer, ``fix_reported``
by an agent that opened its own), merged (``pr_merged``), or the move to ``verified``. Each
duration runs from the milestone before it on the same incident: detection (the incident's first
report) to its first pull request, the pull request that was merged to its merge, the merge to
verification. The metrics and the overview page both measure with these definitions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ColumnElement, Connection, exists, func, select
from sqlalchemy.orm import aliased

from server.store.schema import incidents, timeline

PR_EVENTS = ("pr_opened", "fix_reported")
MERGE_EVENTS = ("pr_merged",)


class Leg(StrEnum):
    to_pr = "to_pr"
    to_merge = "to_merge"
    to_verified = "to_verified"


LEG_LABELS: dict[Leg, str] = {
    Leg.to_pr: "Detected to PR",
    Leg.to_merge: "PR to merged",
    Leg.to_verified: "Merged to verified",
}


@dataclass(frozen=True)
class Duration:
    leg: Leg
    seconds: float
    at: datetime


def _verified() -> ColumnElement[bool]:
    moved_to: ColumnElement[str] = timeline.c.detail["to"].as_string()
    return moved_to == "verified"


def is_milestone() -> ColumnElement[bool]:
    return timeline.c.event.in_([*PR_EVENTS, *MERGE_EVENTS]) | _verified()


def durations(connection: Connection, where: ColumnElement[bool]) -> list[Duration]:
    """The legs completed by the timeline rows matching ``where`` (three index-driven queries)."""
    earlier = aliased(timeline)
    found: list[Duration] = []
    first_pr = (
        select(timeline.c.at, incidents.c.first_seen)
        .join(incidents, incidents.c.pk == timeline.c.incident_pk)
        .where(where, timeline.c.event.in_(PR_EVENTS))
        .where(
            ~exists().where(
                earlier.c.incident_pk == timeline.c.incident_pk,
                earlier.c.event.in_(PR_EVENTS),
                earlier.c.id < timeline.c.id,
            )
        )
    )
    for at, started in connection.execute(first_pr):
        found.append(Duration(Leg.to_pr, (at - started).total_seconds(), at))
    for leg, ends, starts in (
        (Leg.to_merge, timeline.c.event.in_(MERGE_EVENTS), earlier.c.event.in_(PR_EVENTS)),
        (Leg.to_verified, _verified(), earlier.c.event.in_(MERGE_EVENTS)),
    ):
        start = (
            select(func.max(earlier.c.at))
            .where(earlier.c.incident_pk == timeline.c.incident_pk, starts, earlier.c.id < timeline.c.id)
            .scalar_subquery()
        )
        for at, started in connection.execute(select(timeline.c.at, start).where(where, ends)):
            if started is not None:
                found.append(Duration(leg, (at - started).total_seconds(), at))
    return found
