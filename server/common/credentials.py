"""Secrets in configuration: ``env:NAME`` values, the shortest secret accepted, and the values the server holds.

Source and channel tables share one resolver, so ``env:NAME`` means the same everywhere in
healer.toml, and one length rule, so an empty or guessable secret never counts as configured
(an empty ``bearer_token`` would otherwise admit anyone who sends ``Authorization: Bearer``).
``server.held_secrets`` gathers every secret value the running server knows, for redaction by value.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import AfterValidator, BaseModel, SecretStr

if TYPE_CHECKING:
    from server.common.settings import Settings

#: Shorter secrets are refused at load: an empty one is no check at all, a short one is guessed.
MIN_SECRET_BYTES = 16

ENV_PREFIX = "env:"


def resolve_env(value: str, environ: Mapping[str, str], *, key: str) -> str:
    """``env:NAME`` -> the variable's value; anything else as is. A missing variable is a ValueError naming both."""
    if not value.startswith(ENV_PREFIX):
        return value
    name = value.removeprefix(ENV_PREFIX)
    found = environ.get(name)
    if not found:
        raise ValueError(f"{key} = 'env:{name}' but the environment variable {name} is not set")
    return found


def too_short(value: str | bytes) -> str | None:
    """Why ``value`` cannot be a secret, or None when it is long enough."""
    size = len(value.encode("utf-8") if isinstance(value, str) else value)
    if size == 0:
        return f"is empty; use a random value of at least {MIN_SECRET_BYTES} bytes (e.g. `openssl rand -hex 32`)"
    if size < MIN_SECRET_BYTES:
        return (
            f"is {size} bytes long; use a random value of at least {MIN_SECRET_BYTES} bytes "
            "(e.g. `openssl rand -hex 32`)"
        )
    return None


def _long_enough(value: SecretStr) -> SecretStr:
    raw = value.get_secret_value()
    if raw.startswith(ENV_PREFIX):
        return value  # checked once the environment has been read
    problem = too_short(raw)
    if problem is not None:
        raise ValueError(f"the secret {problem}")  # never the value itself
    return value


#: A configured secret: refused at validation when empty or shorter than ``MIN_SECRET_BYTES``.
Secret = Annotated[SecretStr, AfterValidator(_long_enough)]


def _is_secret_field(model: type[BaseModel], field: str) -> bool:
    info = model.model_fields.get(field)
    return info is not None and "SecretStr" in repr(info.annotation)


def resolve_env_fields(
    model: type[BaseModel], data: Mapping[str, Any], environ: Mapping[str, str], *, key: str
) -> dict[str, Any]:
    """``data`` with ``env:NAME`` read from ``environ`` in every secret field of ``model`` (strings and lists)."""
    resolved = dict(data)
    for field, value in data.items():
        if not _is_secret_field(model, field):
            continue
        if isinstance(value, str):
            resolved[field] = resolve_env(value, environ, key=f"{key}.{field}")
        elif isinstance(value, list):
            resolved[field] = [
                resolve_env(item, environ, key=f"{key}.{field}[{index}]") if isinstance(item, str) else item
                for index, item in enumerate(value)
            ]
    return resolved


def secret_values(model: BaseModel) -> Iterator[str]:
    """Every secret string held by ``model``'s fields (``SecretStr`` alone or in a list)."""
    for field in type(model).model_fields:
        value = getattr(model, field, None)
        items: Iterable[object] = value if isinstance(value, list | tuple) else [value]
        for item in items:
            if isinstance(item, SecretStr):
                yield item.get_secret_value()


def settings_secrets(settings: Settings) -> list[str]:
    """The tokens and keys among the process settings."""
    held = (settings.api_token, settings.github_token, settings.github_webhook_secret, settings.github_app_private_key)
    return [secret.get_secret_value() for secret in held if secret is not None]
