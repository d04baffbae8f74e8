"""Route for Prometheus, and the ASGI middleware that gives every request an id, a log context and a timing."""

from __future__ import annotations

import logging
import os
import re
import time

from fastapi import APIRouter, FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.agents.metrics import RunCollector
from server.api.state import AppState
from server.common import logs
from server.observe.metrics import StoreCollector

router = APIRouter(tags=["observability"])
log = logging.getLogger("server.http")

#: Long-lived or self-referential: a feed connection's hour says nothing about request latency.
UNTIMED = frozenset({"/events", "/metrics"})
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_INCIDENT_IN_PATH = re.compile(r"/incidents/(INC-\d{8}-\d{4,})")


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def metrics(request: Request) -> Response:
    registry: CollectorRegistry = request.app.state.metrics
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


class RequestContext:
    """Per request: an id (the caller's X-Request-ID when sane), bound for every log line; its latency."""

    def __init__(self, app: ASGIApp, latency: Histogram) -> None:
        self.app = app
        self.latency = latency

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = ""
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                request_id = value.decode("latin-1")
                break
        if not _REQUEST_ID.match(request_id):
            request_id = os.urandom(8).hex()
        fields = logs.bind_request(request_id)
        found = _INCIDENT_IN_PATH.search(scope["path"])
        if found:
            logs.bind_incident(found.group(1))
        status = 500
        header = (b"x-request-id", request_id.encode())

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", []), header]}
            await send(message)

        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            path = scope["path"]
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            if path not in UNTIMED:
                self.latency.labels(scope["method"], route, str(status)).observe(elapsed)
            level = logging.WARNING if status >= 500 else logging.DEBUG
            if log.isEnabledFor(level):
                # Ids bound deeper down (in the thread a handler ran in) come back through `fields`.
                logs.bind_fields(fields)
                log.log(level, "%s %s -> %d in %.1f ms", scope["method"], route, status, elapsed * 1000)
            logs.unbind_request()


def install(app: FastAPI, state: AppState) -> None:
    """A registry per app (tests build many apps): the store's figures and the request latency."""
    registry = CollectorRegistry()
    registry.register(StoreCollector(state.store))
    registry.register(RunCollector(state.store))
    latency = Histogram(
        "healer_http_request_duration_seconds",
        "Time to answer an HTTP request, by method, route template and status (the live feed and /metrics excluded).",
        ["method", "route", "status"],
        registry=registry,
        buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
    )
    app.state.metrics = registry
    app.add_middleware(RequestContext, latency=latency)
