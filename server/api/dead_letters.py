"""Routes for the dead-letter queue: incidents whose attempts ran out, and retrying them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, Field

from server.api.state import AppState, app_state
from server.fixing import attempts
from server.fixing.attempts import DeadLetter
from server.models import Incident

router = APIRouter(tags=["dead letters"])


class Retry(BaseModel):
    by: str = Field(default="api", min_length=1, max_length=200)


@router.get("/dead-letters", response_model=list[DeadLetter], summary="Incidents whose fix attempts ran out")
def list_dead_letters(state: Annotated[AppState, Depends(app_state)]) -> list[DeadLetter]:
    return attempts.dead_letters(state.store)


@router.get("/dead-letters/{incident_id}", response_model=DeadLetter)
def show_dead_letter(
    incident_id: Annotated[str, Path(max_length=40)], state: Annotated[AppState, Depends(app_state)]
) -> DeadLetter:
    return attempts.dead_letter(state.store, incident_id)


@router.post(
    "/dead-letters/{incident_id}/retry",
    response_model=Incident,
    summary="Send it back to the agents with a fresh attempt budget",
)
def retry(
    incident_id: Annotated[str, Path(max_length=40)], body: Retry, state: Annotated[AppState, Depends(app_state)]
) -> Incident:
    return attempts.retry(state.store, incident_id, by=body.by)
