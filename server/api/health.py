"""Health: is the process up and the store reachable."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError

from server import __version__
from server.api.state import AppState, app_state
from server.errors import HealerError

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    store: Literal["ok", "unreachable"]
    version: str


@router.get("/health", response_model=Health, responses={503: {"model": Health}})
def health(state: Annotated[AppState, Depends(app_state)]) -> JSONResponse:
    reachable = state.store.ping()
    body = Health(
        status="ok" if reachable else "degraded",
        store="ok" if reachable else "unreachable",
        version=__version__,
    )
    return JSONResponse(body.model_dump(), status_code=200 if reachable else 503)


@router.get("/healthz", summary="Liveness: the process answers")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


class Readiness(BaseModel):
    status: Literal["ready", "not_ready"]
    store: Literal["ok", "unreachable"]
    schema_revision: str | None
    expected_revision: str


@router.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness}}, summary="Readiness")
def readyz(state: Annotated[AppState, Depends(app_state)]) -> JSONResponse:
    """Ready when the store answers and its schema is at the revision this build expects."""
    from server.store.migrate import HEAD_REVISION, current_revision

    revision = None
    reachable = True
    try:
        with state.store.read() as connection:
            revision = current_revision(connection)
    except (HealerError, DBAPIError):
        reachable = False
    ready = reachable and revision == HEAD_REVISION
    body = Readiness(
        status="ready" if ready else "not_ready",
        store="ok" if reachable else "unreachable",
        schema_revision=revision,
        expected_revision=HEAD_REVISION,
    )
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)
