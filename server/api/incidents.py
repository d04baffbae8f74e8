"""Routes for incidents: intake, lists, one incident, its timeline."""

from __future__ import annotations

import hashlib
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Query, Request

from server.api.state import AppState, app_state
from server.intake import normalize, trace_id_from_traceparent
from server.models import (
    Incident,
    IncidentIn,
    IncidentSummary,
    IngestResult,
    Page,
    Severity,
    Status,
    TimelineEvent,
)

router = APIRouter(tags=["incidents"])

IncidentId = Annotated[str, Path(description="An incident id such as INC-20261122-0042.", max_length=40)]


@router.post(
    "/incidents",
    status_code=202,
    response_model=IngestResult,
    summary="Report an incident",
    description=(
        "Accepts `{service, error, severity}` or `{log, source}` plus optional fields. A 202 means the "
        "incident is committed to disk. A repeat of an open incident's fingerprint answers with that "
        "incident and `duplicate: true`. A retried request with the same `Idempotency-Key` gets the first answer."
    ),
    responses={
        409: {"description": "Idempotency-Key reused with a different body"},
        413: {"description": "Body too large"},
    },
)
async def create_incident(
    report: IncidentIn,
    request: Request,
    state: Annotated[AppState, Depends(app_state)],
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=255)] = None,
    traceparent: Annotated[str | None, Header()] = None,
) -> IngestResult:
    new = normalize(report, state.config, trace_id=trace_id_from_traceparent(traceparent))
    request_hash = hashlib.sha256(await request.body()).hexdigest() if idempotency_key else None
    return await state.store.ingest_grouped(new, idempotency_key=idempotency_key, request_hash=request_hash)


@router.get("/incidents", response_model=Page[IncidentSummary], summary="List incidents, newest first")
def list_incidents(
    state: Annotated[AppState, Depends(app_state)],
    status: Annotated[list[Status] | None, Query(description="Repeat to match any of several.")] = None,
    severity: Annotated[list[Severity] | None, Query(description="Repeat to match any of several.")] = None,
    service: Annotated[str | None, Query(max_length=200)] = None,
    cursor: Annotated[str | None, Query(max_length=500, description="next_cursor of the previous page.")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[IncidentSummary]:
    return state.store.list_incidents(status=status, severity=severity, service=service, cursor=cursor, limit=limit)


@router.get("/incidents/{incident_id}", response_model=Incident, summary="One incident, everything known")
def get_incident(incident_id: IncidentId, state: Annotated[AppState, Depends(app_state)]) -> Incident:
    return state.store.get(incident_id)


@router.get("/incidents/{incident_id}/timeline", response_model=list[TimelineEvent], summary="An incident's history")
def get_timeline(
    incident_id: IncidentId,
    state: Annotated[AppState, Depends(app_state)],
    after: Annotated[int | None, Query(ge=0, description="Only events with a larger id.")] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> list[TimelineEvent]:
    return state.store.timeline(incident_id, after=after, limit=limit)
