"""Health: is the process up and the store reachable."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from server import __version__
from server.api.state import AppState, app_state

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
