"""``check_config``: every problem in healer.toml's triage, routing and notify tables, each with its key and line."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from server.common.toml_lines import KeyPath, dotted, key_lines, line_of
from server.notify.config import NotifyConfig, error_key, notify_problems
from server.triage.classifier import TriageConfig, available_classifiers
from server.triage.policy import RoutingConfig, RoutingRule

_TOML_POSITION = re.compile(r"\(at line (\d+), column (\d+)\)")


class Problem(BaseModel):
    """One thing wrong in the file, where it is, and what was expected."""

    file: str
    key: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


def _message(error: Any) -> str:
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        return "unknown key"
    if error["type"] == "missing":
        return "missing; this key is required"
    got = error.get("input")
    if isinstance(got, str | int | float | bool) and error["type"] not in ("value_error", "assertion_error"):
        return f"{message}, got {got!r}"
    return message


def _validate(model: type[BaseModel], data: Any, table: str) -> tuple[Any, list[tuple[KeyPath, str]]]:
    try:
        return model.model_validate(data), []
    except ValidationError as exc:
        return None, [(error_key(table, tuple(error["loc"])), _message(error)) for error in exc.errors()]


def _notify_references(data: dict[str, Any], channels: set[str]) -> list[tuple[KeyPath, str]]:
    """Routing rules (each one that is valid on its own) naming channels ``[notify]`` lacks."""
    routing = data.get("routing")
    if not isinstance(routing, dict):
        return []
    scopes: list[tuple[KeyPath, Any]] = [(("routing", "rules"), routing.get("rules"))]
    services = routing.get("services")
    if isinstance(services, dict):
        for name, service in services.items():
            if isinstance(service, dict):
                scopes.append((("routing", "services", name, "rules"), service.get("rules")))
    known = ", ".join(sorted(channels)) or "none"
    problems: list[tuple[KeyPath, str]] = []
    for scope, rules in scopes:
        for index, raw in enumerate(rules if isinstance(rules, list) else []):
            try:
                rule = RoutingRule.model_validate(raw)
            except ValidationError:
                continue  # already reported by the table's own validation
            for position, name in enumerate(rule.notify):
                if name not in channels:
                    problems.append(
                        ((*scope, index, "notify", position), f"no channel named {name!r}; channels: {known}")
                    )
    return problems


def _duplicate_rule_names(data: dict[str, Any]) -> list[tuple[KeyPath, str]]:
    triage = data.get("triage")
    rules = triage.get("rules") if isinstance(triage, dict) else None
    seen: dict[str, int] = {}
    problems: list[tuple[KeyPath, str]] = []
    for index, raw in enumerate(rules if isinstance(rules, list) else []):
        name = raw.get("name") if isinstance(raw, dict) else None
        if isinstance(name, str):
            if name in seen:
                problems.append(
                    (("triage", "rules", index, "name"), f"duplicate of triage.rules[{seen[name]}]; the later one wins")
                )
            seen.setdefault(name, index)
    return problems


def check_config(path: Path) -> list[Problem]:
    """Validate ``[triage]``, ``[routing]`` and ``[notify]``; an empty list means they are fine.

    Unlike loading, which stops at the first error, this collects them all, for
    ``healer config check`` and the dashboard.
    """
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        return [Problem(file=source, key="", line=None, message=f"cannot be read ({exc.strerror})")]
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = _TOML_POSITION.search(str(exc))
        return [
            Problem(
                file=source,
                key="",
                line=int(found.group(1)) if found else None,
                message=f"not valid TOML: {exc}",
            )
        ]
    lines = key_lines(text)
    found_problems: list[tuple[KeyPath, str]] = []

    triage, problems = _validate(TriageConfig, data.get("triage", {}), "triage")
    found_problems += problems
    if triage is not None and triage.classifier != "rules" and triage.classifier not in available_classifiers():
        installed = ", ".join(available_classifiers()) or "none"
        found_problems.append(
            (
                ("triage", "classifier"),
                f"no classifier named {triage.classifier!r} is installed; installed: {installed}",
            )
        )

    found_problems += _duplicate_rule_names(data)

    _, problems = _validate(NotifyConfig, data.get("notify", {}), "notify")
    found_problems += problems
    # Cross-references use the names as written, so one bad channel table hides nothing else.
    raw_notify = data.get("notify")
    raw_notify = raw_notify if isinstance(raw_notify, dict) else {}
    raw_channels = raw_notify.get("channels")
    channels = set(raw_channels) if isinstance(raw_channels, dict) else set()
    raw_routes = raw_notify.get("routes")
    if isinstance(raw_routes, dict):
        routes = {
            kind: [name for name in names if isinstance(name, str)]
            for kind, names in raw_routes.items()
            if isinstance(names, list)
        }
        found_problems += notify_problems(routes, channels)
    found_problems += _notify_references(data, channels)

    _, problems = _validate(RoutingConfig, data.get("routing", {}), "routing")
    found_problems += problems

    problems_out = [
        Problem(file=source, key=dotted(key), line=line_of(lines, key), message=message)
        for key, message in found_problems
    ]
    return sorted(problems_out, key=lambda problem: (problem.line or 0, problem.key))
