"""Routes for approvals: a person, proven by their own token, approves or denies what waits for them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, Field

from server.api.identity import verified_person
from server.api.state import AppState, app_state
from server.approvals import records as approvals
from server.approvals.answers import ApprovalAnswer, answer_as
from server.approvals.people import Person
from server.approvals.records import ApprovalRequest
from server.errors import PersonRequired

router = APIRouter(tags=["approvals"])

IncidentId = Annotated[str, Path(max_length=40)]

WHO = (
    "Only a person may answer: send `Authorization: Bearer <person token>` (a `[people.<login>]` token). The shared "
    "API token and agents can ask for approval but never give it (403)."
)


class Answer(BaseModel):
    approver: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9 ._@-]*$",
        description="Optional; when given it must be the login of the person whose token is sent.",
    )
    reason: str = Field(default="", max_length=2000)


def _check_named(body: Answer, person: Person) -> None:
    if body.approver is not None and body.approver.strip().casefold() != person.login.casefold():
        raise PersonRequired(
            f"the token is {person.login}'s, but the body names {body.approver!r}; a person answers only as themself"
        )


@router.get("/incidents/{incident_id}/approvals", response_model=list[ApprovalRequest])
def list_approvals(incident_id: IncidentId, state: Annotated[AppState, Depends(app_state)]) -> list[ApprovalRequest]:
    return approvals.requests_for(state.store, incident_id)


@router.post(
    "/incidents/{incident_id}/approve",
    response_model=ApprovalAnswer,
    summary="Approve what waits for a person",
    description="An incident routed for approval goes to the agents; a held fix runs and opens its pull request. "
    + WHO,
    responses={403: {"description": "Not a person's token, the requester or submitter, or not an approver"}},
)
def approve(
    incident_id: IncidentId,
    body: Answer,
    state: Annotated[AppState, Depends(app_state)],
    person: Annotated[Person, Depends(verified_person)],
) -> ApprovalAnswer:
    _check_named(body, person)
    return answer_as(state.store, state.config, state.settings, incident_id, person, approve=True, reason=body.reason)


@router.post(
    "/incidents/{incident_id}/deny",
    response_model=ApprovalAnswer,
    summary="Deny: the incident goes to humans",
    description=WHO,
    responses={403: {"description": "Not a person's token, or not an approver"}},
)
def deny(
    incident_id: IncidentId,
    body: Answer,
    state: Annotated[AppState, Depends(app_state)],
    person: Annotated[Person, Depends(verified_person)],
) -> ApprovalAnswer:
    _check_named(body, person)
    return answer_as(state.store, state.config, state.settings, incident_id, person, approve=False, reason=body.reason)
