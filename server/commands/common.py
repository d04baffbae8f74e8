"""What several commands share: loading settings and config, and failing with a clear message."""

from __future__ import annotations

import sys
from typing import NoReturn

from server.config import HealerConfig, load_config
from server.errors import HealerError
from server.settings import Settings


def fail(message: str, code: int = 2) -> NoReturn:
    sys.stderr.write(f"healer: {message}\n")
    raise SystemExit(code)


def load() -> tuple[Settings, HealerConfig]:
    try:
        settings = Settings()
    except ValueError as exc:
        fail(f"bad environment setting: {exc}")
    try:
        return settings, load_config(settings.config_path)
    except HealerError as exc:
        fail(exc.message)
