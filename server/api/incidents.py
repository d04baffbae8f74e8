"""Routes for incidents: intake, lists, one incident, its timeline."""

from __future__ import annotations

import hashlib
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field, ValidationError

from server.api.state import MAX_ROW_ID, AppState, app_state
from server.errors import InvalidInput
from server.intake.reports import normalize, trace_id_from_traceparent
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
from server.similar.matches import SimilarIncident, for_incident

router = APIRouter(tags=["incidents"])

IncidentId = Annotated[str, Path(description="An incident id such as INC-20261122-0042.", max_length=40)]


@router.post(
    "/incidents",
    status_code=202,
    response_model=None,
    summary="Report an incident",
    description=(
        "Accepts `{service, error, severity}` or `{log, source}` plus optional fields. A 202 means the "
        "incident is committed to disk. A repeat of an open incident's fingerprint answers with that "
        "incident and `duplicate: true`. A retried request with the same `Idempotency-Key` gets the first answer."
    ),
    responses={
        202: {"model": IngestResult, "description": "Committed: the incident, or the open one this repeats"},
        409: {"description": "Idempotency-Key reused with a different body"},
        413: {"description": "Body too large"},
        422: {"description": "The body is not a valid report; `error.field` names the field"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/IncidentIn"}}},
        },
        "parameters": [
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "schema": {"type": "string", "maxLength": 255},
                "description": "Retries with the same key get the first answer.",
            },
            {
                "name": "traceparent",
                "in": "header",
                "required": False,
                "schema": {"type": "string"},
                "description": "W3C trace context; its trace id becomes the incident's.",
            },
        ],
    },
)
async def create_incident(request: Request) -> Response:
    # The intake hot path reads and validates the body itself: FastAPI's generic parameter
    # machinery costs more per request than storing the incident does. The schema is declared
    # above, so /openapi.json still describes it.
    state: AppState = request.app.state.healer
    body = await request.body()
    try:
        report = IncidentIn.model_validate_json(body)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**error, "loc": ("body", *error["loc"])} for error in exc.errors(include_url=False)]
        ) from None
    idempotency_key = request.headers.get("idempotency-key")
    if idempotency_key is not None and not 0 < len(idempotency_key) <= 255:
        raise InvalidInput("Idempotency-Key must be 1 to 255 characters", field="Idempotency-Key")
    new = normalize(report, state.config, trace_id=trace_id_from_traceparent(request.headers.get("traceparent")))
    request_hash = hashlib.sha256(body).hexdigest() if idempotency_key else None
    result = await state.store.ingest_grouped(new, idempotency_key=idempotency_key, request_hash=request_hash)
    if not result.duplicate and state.triage is not None:
        state.triage.wake()
    return Response(result.model_dump_json(), status_code=202, media_type="application/json")


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
    after: Annotated[int | None, Query(ge=0, le=MAX_ROW_ID, description="Only events with a larger id.")] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> list[TimelineEvent]:
    return state.store.timeline(incident_id, after=after, limit=limit)


@router.get(
    "/incidents/{incident_id}/similar",
    response_model=list[SimilarIncident],
    summary="Earlier incidents like this one, with their fixes",
    description="Up to 3 earlier incidents, best match first (a verified fix before others at equal "
    "relevance), each with its outcome, the fixing agent's root cause, the pull request and its changed files.",
    responses={404: {"description": "No such incident"}},
)
def get_similar(incident_id: IncidentId, state: Annotated[AppState, Depends(app_state)]) -> list[SimilarIncident]:
    with state.store.read() as connection:
        return for_incident(connection, incident_id)


class ClaimIn(BaseModel):
    agent: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9 ._@/-]{0,63}$",
        description="Who holds the lease; send the same name as `agent` with POST /incidents/{id}/fix.",
    )
    lease_seconds: int | None = Field(default=None, ge=10, le=86_400, description="Default: HEALER_LEASE_SECONDS.")


class ReleaseIn(BaseModel):
    agent: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9 ._@/-]{0,63}$")
    reason: str = Field(default="released by the agent", max_length=500)


@router.post(
    "/incidents/{incident_id}/claim",
    response_model=Incident,
    summary="Claim an incident (or renew the claim)",
    description="The REST twin of the MCP tool claim_incident, for orchestrators that fix over REST. "
    "409 when someone else holds it or it is not claimable.",
    responses={409: {"description": "Someone else holds the claim, or the incident is not claimable"}},
)
def claim_incident(incident_id: IncidentId, body: ClaimIn, state: Annotated[AppState, Depends(app_state)]) -> Incident:
    return state.store.claim(incident_id, agent=body.agent, lease_seconds=body.lease_seconds)


@router.post(
    "/incidents/{incident_id}/release",
    response_model=Incident,
    summary="Give a claimed incident back to the queue",
    responses={409: {"description": "Not claimed by this agent"}},
)
def release_incident(
    incident_id: IncidentId, body: ReleaseIn, state: Annotated[AppState, Depends(app_state)]
) -> Incident:
    return state.store.release(incident_id, agent=body.agent, reason=body.reason)
