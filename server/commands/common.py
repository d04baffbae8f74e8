"""What several commands share: loading settings and config, and failing with a clear message."""

from __future__ import annotations

import os
import re
import sys
from typing import NoReturn

from pydantic import AliasChoices, ValidationError
from pydantic_settings import SettingsError

from server.common.settings import Settings
from server.config import HealerConfig, load_config
from server.errors import HealerError


def fail(message: str, code: int = 2) -> NoReturn:
    sys.stderr.write(f"healer: {message}\n")
    raise SystemExit(code)


def env_name(field: str) -> str:
    """The environment variable a Settings field is read from, e.g. max_body_bytes -> HEALER_MAX_BODY_BYTES."""
    info = Settings.model_fields.get(field)
    alias = info.validation_alias if info is not None else None
    if isinstance(alias, AliasChoices) and isinstance(alias.choices[0], str):
        return alias.choices[0]
    if isinstance(alias, str):
        return alias
    return field if field.startswith("HEALER_") else f"HEALER_{field.upper()}"


def describe_settings_error(exc: ValueError) -> str:
    """Each problem named by its environment variable, without pydantic's field names or help URL.

    The value is not repeated: it may be a token.
    """
    if isinstance(exc, ValidationError):
        problems = [
            f"{env_name(str(error['loc'][0])) if error['loc'] else 'environment'}: "
            + _lower_first(str(error["msg"]).removeprefix("Value error, "))
            for error in exc.errors(include_url=False)
        ]
        return "; ".join(problems)
    if isinstance(exc, SettingsError):  # a list or other complex setting whose value is not JSON
        found = re.search(r'field "(\w+)"', str(exc))
        name = env_name(found.group(1)) if found else "a setting"
        return f'{name}: could not be parsed; give a JSON value, e.g. ["a", "b"] for a list'
    return str(exc)


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def load(*, hold: bool = True) -> tuple[Settings, HealerConfig]:
    """Settings and healer.toml; with ``hold``, every text redacted from here on loses the server's secrets
    by value (``healer mcp`` defers that to its first store use, to start fast)."""
    try:
        settings = Settings()
    except ValueError as exc:  # pydantic's ValidationError and pydantic-settings' SettingsError both are
        fail(f"bad environment setting {describe_settings_error(exc)}")
    ensure_home(settings)
    try:
        config = load_config(settings.config_path)
    except HealerError as exc:
        fail(exc.message)
    if hold:
        from server.common.redact import hold_secrets
        from server.held_secrets import server_secrets

        hold_secrets(server_secrets(settings, config, os.environ))
    return settings, config


def ensure_home(settings: Settings) -> None:
    """The home folder, when the database or healer.toml live there: refused if it is a file, and said
    when it is created (a forgotten HEALER_HOME otherwise starts an empty store without a word)."""
    if settings.database_url is not None and settings.config is not None:
        return
    home = settings.home
    if home.exists() and not home.is_dir():
        fail(f"HEALER_HOME is {home}, which is a file, not a folder; point it at a folder (created if missing)")
    if home.exists():
        return
    try:
        home.mkdir(parents=True)
    except OSError as exc:
        fail(f"cannot create the home folder {home} (HEALER_HOME): {exc.strerror}; point HEALER_HOME at a folder")
    sys.stderr.write(f"healer: created a new home at {home} (set HEALER_HOME to use another folder)\n")
