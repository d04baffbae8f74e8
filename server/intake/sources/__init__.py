"""Monitor sources: the one table of source types, and ``[sources.*]`` configuration.

Adding an eighth source means writing its module (a ``Source`` with its config model and
severity mapping) and adding one row to ``SOURCES``; nothing else changes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from server.common.credentials import resolve_env_fields
from server.errors import ConfigError
from server.intake.sources.alertmanager import AlertmanagerSource
from server.intake.sources.base import Source, SourceConfig
from server.intake.sources.cloudwatch import CloudWatchSource
from server.intake.sources.datadog import DatadogSource
from server.intake.sources.grafana import GrafanaSource
from server.intake.sources.kestra import KestraSource
from server.intake.sources.pagerduty import PagerDutySource
from server.intake.sources.sentry import SentrySource

#: type -> Source. Deliveries for a source named N of type T arrive at /alerts/N.
SOURCES: dict[str, Source[Any]] = {
    "alertmanager": AlertmanagerSource(),
    "grafana": GrafanaSource(),
    "sentry": SentrySource(),
    "pagerduty": PagerDutySource(),
    "datadog": DatadogSource(),
    "cloudwatch": CloudWatchSource(),
    "kestra": KestraSource(),
}

# A source name is a URL path segment: /alerts/<name>.
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


class SeverityRow(BaseModel):
    """One row of the README's severity table."""

    source_type: str
    field: str
    level: str
    severity: str


def _describe(error: Any) -> str:
    # Never echo the input: a wrong value may be a secret.
    loc = ".".join(str(part) for part in error["loc"])
    kind = str(error["type"])
    if kind == "extra_forbidden":
        return f"{loc}: unknown key (check the spelling against the README's source table)"
    if kind == "missing":
        return f"{loc}: missing"
    message = str(error["msg"]).removeprefix("Value error, ").replace("Input should be", "expected")
    return f"{loc}: {message}" if loc else message


def load_sources(
    raw_config: Mapping[str, Any],
    *,
    loopback: bool = True,
    file: str = "healer.toml",
    environ: Mapping[str, str] | None = None,
) -> dict[str, SourceConfig]:
    """Validate the ``[sources.*]`` tables of a parsed healer.toml into configs by name.

    A secret given as ``env:NAME`` is read from ``environ`` (passed in at start-up), as in
    ``[notify.channels.*]``; a variable that is not set stops the load with the key and its name.

    A table's ``type`` defaults to its name when that is a source type (``[sources.sentry]``).
    On a loopback bind, each type with no configured instance is also available at
    ``/alerts/<type>`` with defaults (no secrets), so ``POST /alerts/sentry`` works out of the box.
    """
    table = raw_config.get("sources", {})
    if not isinstance(table, Mapping):
        raise ConfigError("expected a table of [sources.<name>] tables", file=file, key="sources")
    configs: dict[str, SourceConfig] = {}
    for name, entry in table.items():
        key = f"sources.{name}"
        if not _NAME.match(str(name)):
            raise ConfigError(
                "expected a name of lower-case letters, digits, '-' or '_' (it becomes /alerts/<name>)",
                file=file,
                key=key,
            )
        if not isinstance(entry, Mapping):
            raise ConfigError("expected a table", file=file, key=key)
        kind = entry.get("type", name if name in SOURCES else None)
        if kind not in SOURCES:
            wanted = f"expected one of {', '.join(SOURCES)}"
            raise ConfigError(f"{wanted}, got {kind!r}" if kind else f"missing; {wanted}", file=file, key=f"{key}.type")
        if "name" in entry:
            raise ConfigError("unknown key (the table's name is the source's name)", file=file, key=f"{key}.name")
        model = SOURCES[kind].config_model
        try:
            values = resolve_env_fields(model, entry, environ or {}, key=key)
        except ValueError as exc:
            raise ConfigError(str(exc), file=file) from exc
        try:
            config = model.model_validate({**values, "type": kind, "name": name})
        except ValidationError as exc:
            raise ConfigError(_describe(exc.errors()[0]), file=file, key=key) from exc
        configs[name] = config
    if loopback:
        configured_types = {config.type for config in configs.values()}
        for kind, source in SOURCES.items():
            if kind not in configured_types and kind not in configs:
                configs[kind] = source.config_model(type=kind, name=kind)
    return configs


def unauthenticated_sources(sources: Mapping[str, SourceConfig]) -> list[str]:
    """Names of sources that accept deliveries without any check: allowed on a loopback bind only."""
    return sorted(name for name, config in sources.items() if not config.verification())


def severity_table() -> list[SeverityRow]:
    """Every source's level -> severity pairs, for the README."""
    rows: list[SeverityRow] = []
    for kind, source in SOURCES.items():
        mapping = source.severity
        rows.extend(
            SeverityRow(source_type=kind, field=mapping.field, level=level, severity=str(severity))
            for level, severity in mapping.levels.items()
        )
        rows.append(
            SeverityRow(
                source_type=kind,
                field=mapping.field,
                level="(missing or other)",
                severity=str(mapping.default),
            )
        )
    return rows
