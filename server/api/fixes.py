"""Routes for fixes: an orchestrator submits a change for a claimed incident."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from pydantic import Field

from server.api.identity import caller_person
from server.api.state import AppState, app_state
from server.fixing.models import FixOutcome, FixSubmission
from server.fixing.submit import FixService

router = APIRouter(tags=["fixes"])


class FixBody(FixSubmission):
    agent: str = Field(default="api", pattern=r"^[A-Za-z0-9][A-Za-z0-9 ._@/-]{0,63}$", description="The lease holder.")


@router.post(
    "/incidents/{incident_id}/fix",
    response_model=FixOutcome,
    summary="Submit a change for a claimed incident",
    description=(
        "Runs the fix pipeline: policy checks, apply, the repository's tests before and after, commit, push, and "
        "open or update the incident's pull request. The incident must be claimed by `agent`. A refused change "
        "answers 422 naming the rule or the failing hunk; nothing is written."
    ),
    responses={409: {"description": "Not claimed by this agent, PR cap reached, or branch taken over"}},
)
def submit_fix(
    incident_id: Annotated[str, Path(max_length=40)],
    body: FixBody,
    request: Request,
    state: Annotated[AppState, Depends(app_state)],
) -> FixOutcome:
    service = FixService(state.store, state.config, state.settings)
    person = caller_person(request, state)  # a person sending a fix may not approve it too
    return service.submit(incident_id, body, agent=body.agent, submitted_by=person.login if person else None)
