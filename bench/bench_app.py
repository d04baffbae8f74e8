"""The real REST app plus a no-op endpoint, the baseline the ingest benchmark compares against."""

from __future__ import annotations

import os

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from server.commands.common import load
from server.commands.serve import build_app
from server.common.heap import settle_for_serving
from server.store import Store


def create() -> FastAPI:
    settings, config = load()
    store = Store.from_settings(settings)
    # HEALER_BENCH_TRIAGE=0 leaves the triage worker out, to see what it costs intake.
    run_triage = os.environ.get("HEALER_BENCH_TRIAGE", "1") != "0"
    app = build_app(settings, config, store, run_triage=run_triage, triage_process=True)

    @app.post("/_bench/noop", status_code=202)
    async def noop(request: Request) -> JSONResponse:
        # Reads the body like the real endpoint must, then answers without storing anything.
        await request.body()
        return JSONResponse({"id": "noop", "status": "pending", "trace_id": "0", "duplicate": False}, status_code=202)

    settle_for_serving()  # as `healer serve` does before it serves
    return app
