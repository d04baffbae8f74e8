"""What every channel shares: its configuration fields, the request it renders, and the Protocol it implements."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from server.models import Severity
from server.notify.destinations import ALLOW_HINT, literal_problem
from server.notify.events import EventKind, NotificationEvent

USER_AGENT = "devops-healer"


class OutboundRequest(BaseModel):
    """An HTTP request ready for the outbox sender. The URL is secret (a Slack webhook URL is a credential)."""

    model_config = ConfigDict(frozen=True)

    channel: str
    method: str = "POST"
    url: SecretStr
    headers: dict[str, str]
    body: bytes
    idempotency_key: str = Field(description="The event id; the sender records deliveries under it.")


class ChannelConfig(BaseModel):
    """Fields every ``[notify.channels.<name>]`` table has; each type adds its own."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str
    url: SecretStr = Field(description="Where to POST; 'env:NAME' reads it from the environment at start-up.")
    events: tuple[EventKind, ...] | None = Field(
        default=None, description="Kinds this channel receives when [notify.routes] is absent; default all."
    )
    min_severity: Severity | None = None
    services: tuple[str, ...] | None = Field(default=None, description="Only these services; default all.")
    rate_per_minute: float = Field(default=20.0, gt=0, description="Token bucket refill rate.")
    burst: int = Field(default=5, ge=1, description="Token bucket size.")
    fold_seconds: int = Field(default=300, ge=0, description="Repeats of one (incident, kind) within this fold.")
    allow_private: bool = Field(
        default=False, description="Allow loopback, link-local and fd00::/8 destinations (refused by default)."
    )

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: SecretStr) -> SecretStr:
        raw = value.get_secret_value()
        if raw.startswith("env:"):
            return value
        if not raw.startswith(("https://", "http://")):
            raise ValueError("expected an http(s) URL or env:NAME")
        return value

    @model_validator(mode="after")
    def _public_destination(self) -> ChannelConfig:
        if not self.allow_private:
            problem = literal_problem(self.url.get_secret_value())
            if problem:
                raise ValueError(f"url: {problem}; {ALLOW_HINT}")
        return self


class Channel(Protocol):
    """One delivery channel: renders an event into one HTTP request. ``now`` is the attempt time
    (a signed webhook's timestamp must be the attempt's, not the event's)."""

    name: str

    def render(self, event: NotificationEvent, *, now: datetime) -> OutboundRequest: ...
