"""GitHub's webhook: signed deliveries about the bot's pull requests, recorded before they are answered."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from server.api.state import AppState
from server.common import strict_json
from server.errors import InvalidInput
from server.review import github_webhook

router = APIRouter(tags=["github"])


def _payload(body: bytes, content_type: str) -> dict[str, Any]:
    """JSON, or the form encoding GitHub also offers (``payload=<json>``)."""
    try:
        if content_type.startswith("application/x-www-form-urlencoded"):
            text = parse_qs(body.decode())["payload"][0]
        else:
            text = body.decode()
        data = strict_json.loads(text)
    except (UnicodeDecodeError, KeyError, IndexError, ValueError) as exc:
        raise InvalidInput(
            f"the delivery is not a JSON object ({type(exc).__name__}); set the webhook's content type to "
            "application/json"
        ) from exc
    if not isinstance(data, dict):
        raise InvalidInput("the delivery is not a JSON object; set the webhook's content type to application/json")
    return data


@router.post(
    "/github/webhook",
    status_code=202,
    summary="Receive a GitHub webhook delivery",
    description=(
        "Verified by X-Hub-Signature-256 with HEALER_GITHUB_WEBHOOK_SECRET before anything is read (401, nothing "
        "recorded), recorded under X-GitHub-Delivery (202), then applied by the review loop. A redelivery of a "
        "recorded delivery answers 200 and is not applied again. 503 when no secret is configured."
    ),
    responses={
        200: {"description": "Already recorded (a redelivery)"},
        401: {"description": "Missing or wrong signature"},
        503: {"description": "No webhook secret configured"},
    },
)
async def receive(request: Request) -> JSONResponse:
    state: AppState = request.app.state.healer
    body = await request.body()
    github_webhook.verify(state.settings.github_webhook_secret, body, request.headers.get("x-hub-signature-256"))
    event = request.headers.get("x-github-event", "").strip()
    delivery = request.headers.get("x-github-delivery", "").strip()
    if not event or not delivery:
        missing = " and ".join(h for h, v in (("X-GitHub-Event", event), ("X-GitHub-Delivery", delivery)) if not v)
        raise InvalidInput(f"missing {missing}: GitHub sends both with every delivery")
    payload = _payload(body, request.headers.get("content-type", "application/json"))
    recorded = await run_in_threadpool(github_webhook.record, state.store, delivery, event, payload)
    if state.reviews is not None:
        state.reviews.wake()
    return JSONResponse(
        {"delivery": delivery, "event": event, "recorded": recorded, "duplicate": not recorded},
        status_code=202 if recorded else 200,
    )
