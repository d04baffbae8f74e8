"""Routes for approvals: a person approves or denies what waits for them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, Field

from server import approvals
from server.api.state import AppState, app_state
from server.approvals import ApprovalRequest, Decided
from server.fix_models import FixOutcome
from server.fixes import FixService
from server.triage.policy import routing_policy

router = APIRouter(tags=["approvals"])

IncidentId = Annotated[str, Path(max_length=40)]


class Answer(BaseModel):
    approver: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9 ._@-]*$")
    reason: str = Field(default="", max_length=2000)


class ApprovalAnswer(BaseModel):
    decision: Decided
    fix: FixOutcome | None = Field(default=None, description="The held fix, run after an approval.")


@router.get("/incidents/{incident_id}/approvals", response_model=list[ApprovalRequest])
def list_approvals(incident_id: IncidentId, state: Annotated[AppState, Depends(app_state)]) -> list[ApprovalRequest]:
    return approvals.requests_for(state.store, incident_id)


@router.post(
    "/incidents/{incident_id}/approve",
    response_model=ApprovalAnswer,
    summary="Approve what waits for a person",
    description="An incident routed for approval goes to the agents; a held fix runs and opens its pull request.",
    responses={403: {"description": "This person may not approve (the requester, or not an approver)"}},
)
def approve(incident_id: IncidentId, body: Answer, state: Annotated[AppState, Depends(app_state)]) -> ApprovalAnswer:
    policy = routing_policy(state.config).config.approval
    decided = approvals.answer(
        state.store, incident_id, user=body.approver, approve=True, reason=body.reason, policy=policy
    )
    fix = None
    if decided.payload is not None:
        fix = FixService(state.store, state.config, state.settings).resume(incident_id, decided.payload)
    return ApprovalAnswer(decision=decided, fix=fix)


@router.post(
    "/incidents/{incident_id}/deny", response_model=ApprovalAnswer, summary="Deny: the incident goes to humans"
)
def deny(incident_id: IncidentId, body: Answer, state: Annotated[AppState, Depends(app_state)]) -> ApprovalAnswer:
    policy = routing_policy(state.config).config.approval
    decided = approvals.answer(
        state.store, incident_id, user=body.approver, approve=False, reason=body.reason, policy=policy
    )
    return ApprovalAnswer(decision=decided)
