"""Everything the incident page shows, read in one place: fields, timeline, PR and reviews, actions."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from server.approvals import records as approvals
from server.approvals.records import ApprovalRequest
from server.dashboard import chart
from server.dashboard.actions import Action, available
from server.fixing import attempts
from server.fixing.attempts import AttemptRecord
from server.models import Incident, TimelineEvent
from server.observe.feed import newest_id
from server.review import postmortem, reviews
from server.review.models import FixFeedback
from server.similar import matches as similar
from server.similar.matches import SimilarIncident
from server.store import Store, queries
from server.store.prs_schema import local_pull_requests
from server.store.rows import to_event, to_incident
from server.store.schema import timeline

TIMELINE_LIMIT = 300
_VERIFICATION = re.compile(r"^### Verification\n(.*?)(?=^## |\Z)", re.DOTALL | re.MULTILINE)


@dataclass
class IncidentView:
    incident: Incident
    timeline: list[TimelineEvent]
    earlier_events: bool
    feedback: FixFeedback | None
    approvals: list[ApprovalRequest]
    attempts: list[AttemptRecord]
    verification: str | None
    verdict: str | None
    postmortem: str | None
    chart: str
    actions: list[Action]
    last_event_id: int
    similar: list[SimilarIncident] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


def load(store: Store, incident_id: str) -> IncidentView:
    with store.read() as connection:
        # Read first: the page's live feed starts here, so nothing after this read is missed.
        last_event = newest_id(connection)
        row = queries.incident_row(connection, incident_id)
        incident = to_incident(row)
        # The page lists what happened; repeats are drawn in the chart instead of listed one by one.
        rows = connection.execute(
            select(timeline)
            .where(timeline.c.incident_pk == row.pk, timeline.c.event != "occurrence")
            .order_by(timeline.c.id.desc())
            .limit(TIMELINE_LIMIT + 1)
        ).all()
        events = [to_event(item, incident.id) for item in reversed(rows[:TIMELINE_LIMIT])]
        history = attempts.attempts_of(connection, row.pk)
        series = chart.occurrences(connection, row.pk, incident.first_seen, incident.last_seen, store.clock.now())
        local_pr = connection.execute(
            select(local_pull_requests.c.body)
            .where(local_pull_requests.c.incident_id == incident.id)
            .order_by(local_pull_requests.c.number.desc())
        ).first()
        past = similar.find(connection, row)
    verification = None
    if local_pr is not None:
        found = _VERIFICATION.search(local_pr.body)
        verification = found.group(1).strip() if found else None
    verdict = None
    for event in reversed(events):
        if "verification" in event.detail:
            verdict = str(event.detail["verification"])
            break
    return IncidentView(
        incident=incident,
        timeline=events,
        earlier_events=len(rows) > TIMELINE_LIMIT,
        feedback=reviews.feedback(store, incident.id) if incident.pull_request else None,
        approvals=approvals.requests_for(store, incident.id),
        attempts=history,
        verification=verification,
        verdict=verdict,
        postmortem=postmortem.render(store, incident.id),
        chart=chart.svg(series),
        actions=available(incident),
        last_event_id=last_event,
        similar=past,
    )
