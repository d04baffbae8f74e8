"""Routes that triage incidents again: one, or every one escalated because no repository was mapped."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, Field

from server.api.state import AppState, app_state
from server.triage import retriage
from server.triage.retriage import Retriaged

router = APIRouter(tags=["incidents"])


class RetriageOne(BaseModel):
    by: str = Field(default="api", min_length=1, max_length=200, description="Who asked, for the timeline.")


class RetriageMany(RetriageOne):
    incident_ids: list[Annotated[str, Field(max_length=40)]] | None = Field(
        default=None,
        max_length=1000,
        description="The incidents to triage again; omitted: every incident escalated for want of a repository.",
    )


@router.post(
    "/incidents/retriage",
    response_model=list[Retriaged],
    summary="Triage again the incidents escalated because no repository was mapped (with the server's configuration)",
)
def retriage_many(body: RetriageMany, state: Annotated[AppState, Depends(app_state)]) -> list[Retriaged]:
    return retriage.retriage(state.store, state.config, body.incident_ids, by=body.by)


@router.post(
    "/incidents/{incident_id}/retriage",
    response_model=Retriaged,
    summary="Triage one escalated incident again (with the server's configuration)",
)
def retriage_one(
    incident_id: Annotated[str, Path(max_length=40)], body: RetriageOne, state: Annotated[AppState, Depends(app_state)]
) -> Retriaged:
    return retriage.retriage(state.store, state.config, [incident_id], by=body.by)[0]
