"""The plain FastAPI app a user would write instead: one route, a five-field pydantic body, 202.

The ingest benchmark's baseline, started as its own process with uvicorn's default settings.
Run: .venv/bin/python -m uvicorn bench.plain_fastapi:app
"""

from __future__ import annotations

from fastapi import FastAPI
from pydantic import BaseModel

app = FastAPI()


class Incident(BaseModel):
    service: str
    severity: str
    error: str
    fingerprint: str
    log: str


@app.post("/incidents", status_code=202)
async def post_incident(incident: Incident) -> dict[str, str]:
    return {"status": "accepted", "fingerprint": incident.fingerprint}
