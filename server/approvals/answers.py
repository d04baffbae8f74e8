"""Answering an approval as a verified person, and running the held fix an approval releases.

The one use case behind ``POST /incidents/{id}/approve|deny``, the dashboard's Approve and Deny
buttons and ``healer approve|deny``: each face verifies the person its own way (a person token,
a dashboard session, a token on the command line) and hands over a ``server.approvals.people.Person``;
nothing here accepts a bare name.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from server.approvals import records as approvals
from server.approvals.people import Person
from server.approvals.records import Decided
from server.common.settings import Settings
from server.config import HealerConfig
from server.fixing.models import FixOutcome
from server.store import Store


class ApprovalAnswer(BaseModel):
    decision: Decided
    fix: FixOutcome | None = Field(default=None, description="The held fix, run after an approval.")


def answer_as(
    store: Store,
    config: HealerConfig,
    settings: Settings,
    incident_id: str,
    person: Person,
    *,
    approve: bool,
    reason: str = "",
) -> ApprovalAnswer:
    """``person`` approves or denies what waits on the incident; an approved held fix runs now."""
    from server.triage.policy import routing_policy

    decided = approvals.answer(
        store,
        incident_id,
        user=person.login,
        approve=approve,
        reason=reason.strip()[:2000],
        policy=routing_policy(config).config.approval,
        verified_by=person.verified_by.value,
        groups=person.groups,
    )
    fix = None
    if decided.payload is not None:
        from server.fixing.submit import FixService

        fix = FixService(store, config, settings).resume(incident_id, decided.payload)
    return ApprovalAnswer(decision=decided, fix=fix)
