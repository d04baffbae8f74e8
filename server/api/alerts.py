"""Routes for monitors: alerts exactly as Alertmanager, Grafana, Sentry, PagerDuty, Datadog, CloudWatch
and Kestra send them, and the alerts an incident received."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from server.api.state import AppState, app_state
from server.intake.alerts import AlertPage, DeliveryRequest, DeliveryResult, alerts_of

router = APIRouter(tags=["alerts"])


@router.post(
    "/alerts/{source}",
    response_model=DeliveryResult,
    status_code=202,
    summary="Receive a monitor's webhook",
    description=(
        "The body exactly as the monitor sends it. Verified first (401, nothing stored), then parsed (422 naming the "
        "JSON path), then stored in one transaction: 202 lists what happened to each alert (created, occurrence, "
        "resolved, ignored). A retried delivery (same delivery id) gets the first answer."
    ),
    responses={401: {"description": "Verification failed"}, 404: {"description": "No such source"}},
)
async def receive(source: Annotated[str, Path(max_length=63)], request: Request) -> JSONResponse:
    state: AppState = request.app.state.healer
    assert state.alerts is not None
    body = await request.body()
    intake = state.alerts.intake
    if intake.may_fetch(source):
        # Verification may fetch a certificate and a confirmation makes a GET: both in a worker thread.
        parsed = await run_in_threadpool(intake.receive, source, request.headers, body)
    else:
        parsed = intake.receive(source, request.headers, body)
    if parsed.action is not None:
        await run_in_threadpool(intake.confirm, parsed)
        return JSONResponse({"source": source, "confirmed": parsed.action.topic_arn}, status_code=200)
    config = state.alerts.intake.sources[source]
    result = await state.alerts.committer.run(DeliveryRequest(parsed, config, state.store.clock.now()))
    if state.triage is not None and any(a.outcome == "created" for a in result.alerts):
        state.triage.wake()
    return JSONResponse(result.model_dump(mode="json"), status_code=202)


@router.get("/incidents/{incident_id}/alerts", response_model=AlertPage, summary="Alerts received for an incident")
def incident_alerts(
    incident_id: Annotated[str, Path(max_length=40)],
    state: Annotated[AppState, Depends(app_state)],
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> AlertPage:
    with state.store.read() as connection:
        return alerts_of(connection, incident_id, cursor=cursor, limit=limit)
