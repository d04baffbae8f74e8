"""What happened to a fix after it was proposed: its review feedback and, at the end, the postmortem."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path
from fastapi.responses import PlainTextResponse
from starlette.concurrency import run_in_threadpool

from server.api.state import AppState, app_state
from server.review import postmortem, reviews
from server.review.models import FixFeedback

router = APIRouter(tags=["reviews"])
IncidentId = Annotated[str, Path(max_length=40, description="e.g. INC-20261122-0042")]


@router.get(
    "/incidents/{incident_id}/feedback",
    response_model=FixFeedback,
    summary="Review feedback on the incident's pull request",
    description="The same as the MCP tool get_fix_feedback: verdicts per reviewer, open findings, failing checks.",
)
async def fix_feedback(incident_id: IncidentId, state: Annotated[AppState, Depends(app_state)]) -> FixFeedback:
    return await run_in_threadpool(reviews.feedback, state.store, incident_id)


@router.get(
    "/incidents/{incident_id}/postmortem",
    response_class=PlainTextResponse,
    summary="The incident's postmortem, as Markdown",
    description="Written once the incident is verified or escalated; 404 saying so before then.",
    responses={200: {"content": {"text/markdown": {}}}, 404: {"description": "No such incident, or no postmortem yet"}},
)
async def get_postmortem(incident_id: IncidentId, state: Annotated[AppState, Depends(app_state)]) -> PlainTextResponse:
    text = await run_in_threadpool(postmortem.require, state.store, incident_id)
    return PlainTextResponse(text, media_type="text/markdown; charset=utf-8")
