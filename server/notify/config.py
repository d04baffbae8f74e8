"""The ``[notify]`` table: channels by name, and which event kinds go to which channels.

[notify.channels.oncall]
type = "slack"
url = "env:HEALER_SLACK_ONCALL_URL"     # secrets come from the environment, never the file
min_severity = "high"

[notify.channels.audit]
type = "webhook"
url = "https://audit.example.com/hooks/healer"
secret = "env:HEALER_AUDIT_WEBHOOK_SECRET"

[notify.routes]                          # optional; without it every channel gets every kind
approval_needed = ["oncall"]
dead_lettered = ["oncall", "audit"]
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from server.common.credentials import resolve_env
from server.common.toml_lines import dotted
from server.config import HealerConfig
from server.errors import ConfigError
from server.notify.events import EventKind
from server.notify.registry import CHANNEL_TYPES, AnyChannelConfig


class NotifyConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channels: dict[str, AnyChannelConfig] = Field(default_factory=dict)
    routes: dict[EventKind, tuple[str, ...]] | None = Field(
        default=None,
        description="event kind -> channel names; absent: each channel's `events` (default all).",
    )


def error_key(prefix: str, loc: tuple[int | str, ...]) -> tuple[int | str, ...]:
    """A validation error's location as a key path, without pydantic's union tag (``channels.x.slack.url``)."""
    parts = [part for part in loc if part != "[key]"]  # pydantic's marker for "the dict key itself"
    if len(parts) >= 3 and parts[0] == "channels" and parts[2] in CHANNEL_TYPES:
        del parts[2]
    return (prefix, *parts)


def notify_problems(
    routes: Mapping[str, Sequence[str]], channels: Collection[str]
) -> list[tuple[tuple[int | str, ...], str]]:
    """Cross-references pydantic cannot see: routes naming channels that do not exist."""
    problems: list[tuple[tuple[int | str, ...], str]] = []
    known = ", ".join(sorted(channels)) or "none"
    for kind, names in routes.items():
        for index, name in enumerate(names):
            if name not in channels:
                problems.append((("notify", "routes", kind, index), f"no channel named {name!r}; channels: {known}"))
    return problems


def load_notify(healer: HealerConfig, environ: Mapping[str, str]) -> NotifyConfig:
    """Validate ``[notify]`` and read ``env:NAME`` secrets from ``environ`` (passed in at start-up)."""
    extra: dict[str, Any] = healer.model_extra or {}
    source = str(healer.source_file) if healer.source_file else "healer.toml"
    try:
        config = NotifyConfig.model_validate(extra.get("notify", {}))
    except ValidationError as exc:
        first = exc.errors()[0]
        key = dotted(error_key("notify", first["loc"]))
        raise ConfigError(str(first["msg"]).removeprefix("Value error, "), file=source, key=key) from exc
    routes = {kind.value: names for kind, names in (config.routes or {}).items()}
    for path, message in notify_problems(routes, config.channels):
        raise ConfigError(message, file=source, key=dotted(path))
    resolved: dict[str, Any] = {}
    for name, channel in config.channels.items():
        updates: dict[str, SecretStr] = {}
        for field in ("url", "secret"):
            value = getattr(channel, field, None)
            if isinstance(value, SecretStr):
                try:
                    key = f"notify.channels.{name}.{field}"
                    updates[field] = SecretStr(resolve_env(value.get_secret_value(), environ, key=key))
                except ValueError as exc:
                    raise ConfigError(str(exc), file=source, key=f"notify.channels.{name}.{field}") from exc
        # Revalidate so a secret read from the environment gets the same checks as one in the file.
        try:
            resolved[name] = type(channel).model_validate({**channel.model_dump(), **updates})
        except ValidationError as exc:
            first = exc.errors()[0]
            key = dotted(("notify", "channels", name, *first["loc"]))
            raise ConfigError(str(first["msg"]).removeprefix("Value error, "), file=source, key=key) from exc
    return config.model_copy(update={"channels": resolved})
