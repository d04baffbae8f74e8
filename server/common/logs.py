"""Logging: JSON lines or console lines through structlog, with request, incident and trace ids bound.

``configure`` routes the standard ``logging`` module through structlog's formatter, so every
existing ``log.info(...)`` in the code base comes out in the chosen format with the context
bound by ``bind_request`` and ``bind_incident`` (context variables: per request, per task, per
thread a fix runs in). Every value is passed through ``server.common.redact`` and the process's own
secrets are masked, so a token that reaches a message never reaches the log.
"""

from __future__ import annotations

import contextvars
import logging
import sys
from collections.abc import MutableMapping
from typing import Any, Literal

import structlog

LogFormat = Literal["json", "console"]

#: Fields bound for this request, shared by reference with threads the request's work runs in,
#: so the request's own closing line carries ids bound deeper down.
_request_fields: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "healer_request_fields", default=None
)


def default_format() -> LogFormat:
    """Console lines for a person at a terminal, JSON lines for everything that collects logs."""
    return "console" if sys.stderr.isatty() else "json"


class _Redactor:
    def __init__(self, secrets: list[str]) -> None:
        self.secrets = [s for s in secrets if s and len(s) >= 4]

    def __call__(self, _logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        from server.common.redact import redact

        for key, value in list(event.items()):
            if isinstance(value, str):
                for secret in self.secrets:
                    if secret in value:
                        value = value.replace(secret, "[REDACTED:token]")
                event[key] = redact(value)
        return event


def configure(fmt: LogFormat, level: str = "INFO", secrets: list[str] | None = None) -> None:
    """Send every log line of this process, structlog's and logging's, through one formatter."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="time"),
        structlog.processors.format_exc_info,
        _Redactor(secrets or []),
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer() if fmt == "json" else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[structlog.stdlib.filter_by_level, *shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True


def bind_request(request_id: str) -> dict[str, Any]:
    """Start a request's context: every line logged for it carries ``request_id``."""
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(request_id=request_id)
    fields: dict[str, Any] = {"request_id": request_id}
    _request_fields.set(fields)
    return fields


def bind_incident(incident_id: str, trace_id: str | None = None) -> None:
    """From here on, the work's lines carry the incident and its trace id."""
    values = {"incident_id": incident_id}
    if trace_id:
        values["trace_id"] = trace_id
    structlog.contextvars.bind_contextvars(**values)
    fields = _request_fields.get()
    if fields is not None:
        fields.update(values)


def bind_fields(fields: dict[str, Any]) -> None:
    structlog.contextvars.bind_contextvars(**fields)


def unbind_request() -> None:
    structlog.contextvars.clear_contextvars()
    _request_fields.set(None)


def get_logger(name: str) -> Any:
    return structlog.stdlib.get_logger(name)
