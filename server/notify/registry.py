"""The channel table: one row per channel type (its config model, its class); a new type is a module and a row."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import Field

from server.notify.channel import Channel, ChannelConfig
from server.notify.slack import SlackChannel, SlackConfig
from server.notify.teams import TeamsChannel, TeamsConfig
from server.notify.webhook import WebhookChannel, WebhookConfig


@dataclass(frozen=True)
class ChannelType:
    config: type[ChannelConfig]
    build: Callable[[str, Any], Channel]


CHANNEL_TYPES: dict[str, ChannelType] = {
    "slack": ChannelType(SlackConfig, SlackChannel),
    "teams": ChannelType(TeamsConfig, TeamsChannel),
    "webhook": ChannelType(WebhookConfig, WebhookChannel),
}


def build_channel(name: str, config: ChannelConfig) -> Channel:
    return CHANNEL_TYPES[config.type].build(name, config)


#: The same table as a pydantic tagged union, so a bad table's errors point at its own fields.
AnyChannelConfig = Annotated[SlackConfig | TeamsConfig | WebhookConfig, Field(discriminator="type")]
