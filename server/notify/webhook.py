"""A generic webhook: the event as JSON, signed as the Standard Webhooks spec says."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator

from server.notify.channel import USER_AGENT, ChannelConfig, OutboundRequest
from server.notify.events import NotificationEvent
from server.notify.signing import decode_secret, signature_headers

DETAIL_MAX = 8000


class WebhookConfig(ChannelConfig):
    """``[notify.channels.<name>]`` with ``type = "webhook"``; ``secret`` is ``whsec_...`` or ``env:NAME``."""

    type: Literal["webhook"] = "webhook"
    secret: SecretStr = Field(description="whsec_<base64>; generate one with `healer notify secret`.")

    @field_validator("secret")
    @classmethod
    def _secret_decodes(cls, value: SecretStr) -> SecretStr:
        raw = value.get_secret_value()
        if raw.startswith("env:"):
            return value
        decode_secret(raw)  # raises ValueError with the expected form
        return value


def payload(event: NotificationEvent) -> dict[str, Any]:
    """The body, in the spec's recommended shape: ``type``, ``timestamp`` and ``data``."""
    data = event.model_dump(mode="json", exclude={"id"})
    if data.get("detail") and len(data["detail"]) > DETAIL_MAX:
        data["detail"] = data["detail"][: DETAIL_MAX - 1] + "…"
    return {"type": f"incident.{event.kind.value}", "timestamp": event.occurred_at.isoformat(), "data": data}


class WebhookChannel:
    def __init__(self, name: str, config: WebhookConfig) -> None:
        self.name = name
        self.config = config

    def render(self, event: NotificationEvent, *, now: datetime) -> OutboundRequest:
        body = json.dumps(payload(event), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        headers = {"content-type": "application/json", "user-agent": USER_AGENT}
        headers.update(signature_headers(self.config.secret.get_secret_value(), event.id, now, body))
        return OutboundRequest(
            channel=self.name, url=self.config.url, headers=headers, body=body, idempotency_key=event.id
        )
