"""Route for the live feed: the timeline as Server-Sent Events."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from sse_starlette import EventSourceResponse, ServerSentEvent

from server.api.state import MAX_ROW_ID, AppState
from server.observe.feed import TimelineFeed

router = APIRouter(tags=["events"])


def feed_of(request: Request) -> TimelineFeed:
    """The process's one feed, made on first use."""
    feed: TimelineFeed | None = getattr(request.app.state, "feed", None)
    if feed is None:
        state: AppState = request.app.state.healer
        feed = request.app.state.feed = TimelineFeed(state.store)
    return feed


@router.get(
    "/events",
    summary="Live feed of timeline events (Server-Sent Events)",
    description=(
        "Each event is one timeline row (`event: timeline`, `id:` the row id, `data:` JSON with the event and the "
        "incident as it is now). Reconnecting with `Last-Event-ID` (browsers do it by themselves) or `?after=ID` "
        "replays everything after that id from the table first; without either, only new events are sent."
    ),
    response_class=EventSourceResponse,
)
async def events(
    request: Request,
    last_event_id: Annotated[str | None, Header(max_length=20)] = None,
    after: Annotated[int | None, Query(ge=0, le=MAX_ROW_ID, description="Replay events after this id.")] = None,
) -> EventSourceResponse:
    start = after
    if last_event_id is not None and last_event_id.strip().isdigit() and int(last_event_id) <= MAX_ROW_ID:
        start = int(last_event_id.strip())  # a reconnect: the browser's position wins over the page's
    feed = feed_of(request)

    async def stream() -> AsyncIterator[ServerSentEvent]:
        async for event in feed.subscribe(start):
            yield ServerSentEvent(
                data=json.dumps(event.data, separators=(",", ":")), id=str(event.id), event="timeline"
            )

    return EventSourceResponse(stream(), ping=15, headers={"cache-control": "no-store", "x-accel-buffering": "no"})
