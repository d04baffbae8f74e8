"""The routing policy in healer.toml: routes, automation levels, and the ordered rules per service.

    [routing]
    automation = "pull_request"          # how far automation may go by default

    [[routing.rules]]                    # apply to every service, after its own rules
    name = "page-on-critical"
    match = ['severity="critical"']
    route = "escalate"

    [routing.services.payments]
    automation = "patch"                 # this service: branches, never pull requests
    [[routing.services.payments.rules]]
    name = "db-needs-a-person"
    match = ['category="database"', { name = "labels.env", op = "=~", value = "prod|staging" }]
    cel = "severity_rank >= 3"
    route = "approval"

A rule matches when all its matchers and its CEL expression hold. The first match decides,
unless it says ``continue = true``: then its ``automation`` and ``notify`` apply and the next
rules are tried; its ``route`` is used only when no later rule matches.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from server.approvals.policy import ApprovalPolicy
from server.common.toml_lines import dotted
from server.config import HealerConfig
from server.errors import ConfigError
from server.triage.expressions import Expression, ExpressionError
from server.triage.matchers import Matcher


class Route(StrEnum):
    auto_fix = "auto_fix"  # agents see it
    monitor = "monitor"  # recorded, no agent
    escalate = "escalate"  # humans are notified, no agent
    approval = "approval"  # a person approves before the pull request is opened


class Automation(StrEnum):
    root_cause_only = "root_cause_only"
    patch = "patch"  # a branch, no pull request
    pull_request = "pull_request"

    @property
    def rank(self) -> int:
        return _AUTOMATION_RANK[self]


_AUTOMATION_RANK = {Automation.root_cause_only: 1, Automation.patch: 2, Automation.pull_request: 3}


def least(*levels: Automation | None) -> Automation:
    """The most restrictive of the given levels (pull_request when none is given)."""
    given = [level for level in levels if level is not None]
    return min(given, key=lambda level: level.rank) if given else Automation.pull_request


class RoutingRule(BaseModel):
    """One ``[[routing.rules]]`` or ``[[routing.services.<name>.rules]]`` table."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str | None = Field(default=None, max_length=100)
    match: tuple[Matcher, ...] = Field(default=(), description="All must hold; strings or tables.")
    cel: str | None = Field(default=None, max_length=2000, description="A CEL expression that must be true.")
    route: Route | None = None
    automation: Automation | None = Field(default=None, description="Lowers the service's level, never raises it.")
    notify: tuple[str, ...] = Field(default=(), description="Channels told about the incident, besides routes.")
    continue_: bool = Field(default=False, alias="continue")

    @field_validator("cel")
    @classmethod
    def _cel_compiles(cls, source: str | None) -> str | None:
        if source is not None:
            Expression(source)  # ExpressionError is a ValueError: pydantic reports it at this key
        return source

    @model_validator(mode="after")
    def _route_unless_continue(self) -> RoutingRule:
        if self.route is None and not self.continue_:
            raise ValueError("a rule needs `route` (auto_fix, monitor, escalate or approval) unless continue = true")
        return self


class ServicePolicy(BaseModel):
    """One ``[routing.services.<name>]`` table."""

    model_config = ConfigDict(extra="forbid")

    automation: Automation | None = None
    rules: list[RoutingRule] = Field(default_factory=list)


class RoutingConfig(BaseModel):
    """The ``[routing]`` table."""

    model_config = ConfigDict(extra="forbid")

    automation: Automation = Automation.pull_request
    rules: list[RoutingRule] = Field(default_factory=list)
    services: dict[str, ServicePolicy] = Field(default_factory=dict)
    approval: ApprovalPolicy = Field(default_factory=ApprovalPolicy)


@dataclass(frozen=True)
class PolicyRule:
    """A routing rule ready to evaluate: its place in the file and its compiled CEL."""

    rule: RoutingRule
    scope: str  # "routing.rules" or "routing.services.<name>.rules"
    index: int
    expression: Expression | None

    @property
    def name(self) -> str:
        return self.rule.name or f"{self.scope}[{self.index}]"


@dataclass(frozen=True)
class RoutingPolicy:
    """The compiled policy: per-service rules, global rules, automation levels, mapped services."""

    config: RoutingConfig
    global_rules: tuple[PolicyRule, ...]
    service_rules: dict[str, tuple[PolicyRule, ...]]
    mapped_services: frozenset[str]

    def rules_for(self, service: str) -> tuple[PolicyRule, ...]:
        return self.service_rules.get(service, ()) + self.global_rules

    def automation_for(self, service: str) -> Automation:
        own = self.config.services.get(service)
        if own is not None and own.automation is not None:
            return own.automation
        return self.config.automation


def _compile(rules: Iterable[RoutingRule], scope: str) -> tuple[PolicyRule, ...]:
    compiled: list[PolicyRule] = []
    for index, rule in enumerate(rules):
        expression = None
        if rule.cel is not None:
            try:
                expression = Expression(rule.cel)
            except ExpressionError as exc:
                raise ConfigError(str(exc), key=f"{scope}[{index}].cel") from exc  # scope is already dotted
        compiled.append(PolicyRule(rule=rule, scope=scope, index=index, expression=expression))
    return tuple(compiled)


def compile_policy(config: RoutingConfig, mapped_services: Iterable[str] = ()) -> RoutingPolicy:
    """Compile every rule's CEL once; a bad expression is a ConfigError naming its key."""
    return RoutingPolicy(
        config=config,
        global_rules=_compile(config.rules, "routing.rules"),
        service_rules={
            name: _compile(service.rules, f"routing.services.{name}.rules") for name, service in config.services.items()
        },
        mapped_services=frozenset(mapped_services),
    )


def mapped_services(config: HealerConfig) -> set[str]:
    """Services that have a repository: each repo's ``services`` and the repo names themselves."""
    names: set[str] = set()
    for name, repo in config.repos.items():
        names.add(name)
        names.update(repo.services)
    return names


def routing_policy(config: HealerConfig) -> RoutingPolicy:
    """The policy from healer.toml's ``[routing]`` table (secure defaults when there is none)."""
    extra: dict[str, Any] = config.model_extra or {}
    source = str(config.source_file) if config.source_file else "healer.toml"
    try:
        routing = RoutingConfig.model_validate(extra.get("routing", {}))
    except ValidationError as exc:
        first = exc.errors()[0]
        key = dotted(("routing", *(part for part in first["loc"] if part != "[key]")))
        raise ConfigError(str(first["msg"]).removeprefix("Value error, "), file=source, key=key) from exc
    return compile_policy(routing, mapped_services(config))
