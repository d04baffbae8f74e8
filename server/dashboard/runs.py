"""The incident page's agent runs: the list (status, agent, duration, cost, transcript) and Start agent / Cancel.

Both actions are the core calls the REST API and `healer agents` make (``AgentService.dispatch``, ``runs.cancel``),
with the signed-in person's name on the timeline.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import Response

from server.agents import runs
from server.agents.outcomes import ACTIVE
from server.agents.runs import AgentRun
from server.api.state import AppState
from server.dashboard.pages import _back, _read, _refused, _sessions, _state
from server.errors import HealerError

router = APIRouter(include_in_schema=False)


@dataclass
class RunsPanel:
    runs: list[AgentRun] = field(default_factory=list)
    agents: list[str] = field(default_factory=list)
    default_agent: str = ""
    active: bool = False


def panel(state: AppState, incident_id: str) -> RunsPanel | None:
    """What the page's Agent runs section shows; None when no agent is configured and none ever ran."""
    found = runs.for_incident(state.store, incident_id)
    config = state.agents.config if state.agents is not None else None
    names = sorted(config.agents) if config is not None else []
    if not found and not names:
        return None
    return RunsPanel(
        runs=[runs.get(state.store, run.id) for run in found[-10:]],
        agents=names,
        default_agent=config.default_agent if config is not None else "",
        active=any(run.status in ACTIVE for run in found),
    )


@router.post("/ui/incidents/{incident_id}/agent-runs")
def start_agent(
    request: Request,
    incident_id: Annotated[str, Path(max_length=40)],
    csrf: Annotated[str, Form(max_length=200)] = "",
    agent: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    session = _read(request)
    if not _sessions(request).check_csrf(session, csrf):
        return _refused(request)
    assert session is not None
    state = _state(request)
    page = f"/ui/incidents/{incident_id}"
    try:
        if state.agents is None:
            raise HealerError("no agent is configured: add an [agents.<name>] table to healer.toml")
        run = state.agents.dispatch(state.store, incident_id, agent=agent or None, trigger=f"dashboard:{session.name}")
    except HealerError as exc:
        return _back(request, page, exc.message, "error")
    return _back(request, page, f"Run {run.id} of {run.agent} queued; it starts when the budgets allow.", "ok")


@router.post("/ui/runs/{run_id}/cancel")
def cancel_run(
    request: Request,
    run_id: Annotated[int, Path(ge=1)],
    csrf: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    session = _read(request)
    if not _sessions(request).check_csrf(session, csrf):
        return _refused(request)
    assert session is not None
    state = _state(request)
    try:
        run = runs.cancel(state.store, run_id, by=f"human:{session.name}")
    except HealerError as exc:
        return _back(request, "/", exc.message, "error")
    said = "cancelled" if run.status.value == "cancelled" else "being stopped"
    return _back(request, f"/ui/incidents/{run.incident_id}", f"Run {run.id} is {said}.", "ok")
