"""Every secret value the server holds, gathered from its settings and healer.toml, for redaction by value.

Each table keeps its secrets its own way (sources, notification channels, deployments); this is
the one place that asks all of them, so it sits above them, beside the wiring that calls it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping

from server.common.credentials import secret_values, settings_secrets
from server.common.settings import Settings
from server.config import HealerConfig
from server.errors import HealerError
from server.intake.sources import load_sources
from server.notify.config import load_notify
from server.review.deployments import load_deployments


def server_secrets(settings: Settings, config: HealerConfig, environ: Mapping[str, str]) -> list[str]:
    """Every secret value this server holds: its settings' tokens and keys, and healer.toml's source and
    channel secrets (``env:NAME`` read from ``environ``). A table that does not load adds nothing here;
    loading it is where its error is reported."""

    held = settings_secrets(settings)
    with contextlib.suppress(HealerError):
        for source in load_sources(config.model_extra or {}, loopback=False, environ=environ).values():
            held.extend(secret_values(source))
    with contextlib.suppress(HealerError):
        for channel in load_notify(config, environ).channels.values():
            held.extend(secret_values(channel))
    with contextlib.suppress(HealerError):
        deployments = load_deployments(config, environ)
        held.extend(secret.get_secret_value() for secret in (deployments.secrets() if deployments else []))
    return held
