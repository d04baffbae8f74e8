"""Routes for agent runs: start one for an incident, list and read them (with the transcript), cancel one."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response
from pydantic import BaseModel, Field

from server.agents import runs
from server.agents.config import AgentsConfig
from server.agents.runs import AgentRun
from server.agents.service import AgentService
from server.api.state import AppState, app_state

router = APIRouter(tags=["agent runs"])

IncidentId = Annotated[str, Path(description="An incident id such as INC-20261122-0042.", max_length=40)]
RunId = Annotated[int, Path(description="A run id, as POST /incidents/{id}/dispatch answered.", ge=1)]


class DispatchBody(BaseModel):
    agent: str | None = Field(
        default=None, max_length=100, description="An [agents.<name>] from healer.toml; default: the dispatch rules."
    )


class CancelBody(BaseModel):
    by: str = Field(default="api", min_length=1, max_length=200, description="Who cancels (for the timeline).")


def _agents(state: AppState) -> AgentService:
    return state.agents if state.agents is not None else AgentService(AgentsConfig())


@router.post(
    "/incidents/{incident_id}/dispatch",
    status_code=202,
    response_model=AgentRun,
    summary="Start a configured agent CLI on this incident",
    description=(
        "Queues a run of an agent from `[agents.<name>]`; it starts when the agent has a free slot and the "
        "hourly budget allows (the incident's timeline says when a budget holds it). 202 with the run. "
        "To hand devops-healer a change you already have, use `POST /incidents/{id}/fix` instead."
    ),
    responses={404: {"description": "No such incident or agent"}, 409: {"description": "Not waiting for an agent"}},
)
def dispatch(
    incident_id: IncidentId,
    state: Annotated[AppState, Depends(app_state)],
    body: DispatchBody | None = None,
) -> AgentRun:
    return _agents(state).dispatch(state.store, incident_id, agent=body.agent if body else None, trigger="api")


@router.get("/incidents/{incident_id}/runs", response_model=list[AgentRun], summary="An incident's agent runs")
def incident_runs(incident_id: IncidentId, state: Annotated[AppState, Depends(app_state)]) -> list[AgentRun]:
    return runs.for_incident(state.store, incident_id)


@router.get("/runs/{run_id}", response_model=AgentRun, summary="One agent run, with its transcript")
def show_run(run_id: RunId, state: Annotated[AppState, Depends(app_state)]) -> AgentRun:
    return runs.get(state.store, run_id)


@router.post("/runs/{run_id}/cancel", response_model=AgentRun, status_code=202, summary="Stop an agent run")
def cancel_run(
    run_id: RunId, state: Annotated[AppState, Depends(app_state)], response: Response, body: CancelBody | None = None
) -> AgentRun:
    run = runs.cancel(state.store, run_id, by=f"api:{body.by}" if body else "api")
    if run.status.value == "cancelled":
        response.status_code = 200
    return run
