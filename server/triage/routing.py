"""Route an incident: which way it goes (auto_fix, monitor, escalate, approval), how far automation may go, and why.

``explain`` is both the router and its dry run: the decision carries, for every rule it
evaluated, each matcher's result and the CEL expression's, so ``POST /rules/test`` and
``healer rules test`` show exactly what the router did. A condition that errors (a label the
incident lacks, a CEL type error) does not match; it is logged and the rule is flagged.
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import BaseModel, Field

from server.models import Severity
from server.triage.classifier import Verdict
from server.triage.expressions import ExpressionError
from server.triage.facts import IncidentFacts, IncidentLike, facts_of
from server.triage.matchers import MatcherError
from server.triage.policy import Automation, PolicyRule, Route, RoutingPolicy, least

log = logging.getLogger(__name__)


class MatcherResult(BaseModel):
    matcher: str
    matched: bool
    value: str | None = Field(default=None, description="What the incident had under that name.")
    error: str | None = None


class ExpressionResult(BaseModel):
    expression: str
    matched: bool
    error: str | None = None


class RuleRef(BaseModel):
    scope: str = Field(description="routing.rules or routing.services.<name>.rules")
    index: int
    name: str


class RuleTrace(BaseModel):
    """One evaluated rule: whether it matched and why."""

    rule: RuleRef
    matched: bool
    matchers: list[MatcherResult] = Field(default_factory=list)
    expression: ExpressionResult | None = None
    continued: bool = Field(default=False, description="It matched and said continue = true.")


class RuleFlag(BaseModel):
    """A rule whose condition failed to evaluate (treated as no match)."""

    rule: RuleRef
    problem: str


class RoutingDecision(BaseModel):
    route: Route
    automation: Automation
    matched_rule: RuleRef | None = Field(default=None, description="The rule that decided; None for a default.")
    default: str | None = Field(default=None, description="The secure default applied when no rule decided.")
    evaluated: list[RuleTrace] = Field(default_factory=list)
    flags: list[RuleFlag] = Field(default_factory=list)
    notify: list[str] = Field(default_factory=list)
    reason: str


def values_for_matchers(facts: IncidentFacts) -> dict[str, str]:
    """Every name a matcher may use, as the string it compares against."""
    values = {
        "service": facts.service,
        "source": facts.source,
        "title": facts.title,
        "error": facts.error,
        "log": facts.log,
        "severity": facts.severity.value,
        "severity_rank": str(facts.severity.rank),
        "category": facts.category.value if facts.category else "",
        "repo": facts.repo or "",
        "confidence": "" if facts.confidence is None else f"{facts.confidence:g}",
        "occurrences": str(facts.occurrences),
        "attempts": str(facts.attempts),
    }
    values.update({f"labels.{key}": value for key, value in facts.labels.items()})
    return values


def activation_for_cel(facts: IncidentFacts) -> dict[str, Any]:
    """The variables a CEL expression sees; severity_rank is an int so ``severity_rank >= 3`` works."""
    return {
        "service": facts.service,
        "source": facts.source,
        "title": facts.title,
        "error": facts.error,
        "log": facts.log,
        "severity": facts.severity.value,
        "severity_rank": facts.severity.rank,
        "category": facts.category.value if facts.category else "",
        "repo": facts.repo or "",
        "confidence": facts.confidence if facts.confidence is not None else 0.0,
        "occurrences": facts.occurrences,
        "attempts": facts.attempts,
        "labels": dict(facts.labels),
    }


def _ref(rule: PolicyRule) -> RuleRef:
    return RuleRef(scope=rule.scope, index=rule.index, name=rule.name)


def _evaluate(rule: PolicyRule, values: dict[str, str], activation: dict[str, Any], flags: list[RuleFlag]) -> RuleTrace:
    matched = True
    results: list[MatcherResult] = []
    for matcher in rule.rule.match:
        try:
            ok, seen = matcher.evaluate(values)
            results.append(MatcherResult(matcher=matcher.text, matched=ok, value=seen))
        except MatcherError as exc:
            ok = False
            results.append(MatcherResult(matcher=matcher.text, matched=False, error=str(exc)))
            flags.append(RuleFlag(rule=_ref(rule), problem=f"matcher {matcher.text}: {exc}"))
            log.warning("routing rule %s: matcher %s failed: %s", rule.name, matcher.text, exc)
        matched = matched and ok
    expression = None
    if rule.expression is not None:
        try:
            ok = rule.expression.evaluate(activation)
            expression = ExpressionResult(expression=rule.expression.source, matched=ok)
        except ExpressionError as exc:
            ok = False
            expression = ExpressionResult(expression=rule.expression.source, matched=False, error=str(exc))
            flags.append(RuleFlag(rule=_ref(rule), problem=f"cel {rule.expression.source!r}: {exc}"))
            log.warning("routing rule %s: CEL %r failed: %s", rule.name, rule.expression.source, exc)
        matched = matched and ok
    return RuleTrace(rule=_ref(rule), matched=matched, matchers=results, expression=expression)


def explain(
    incident: IncidentLike | IncidentFacts, policy: RoutingPolicy, verdict: Verdict | None = None
) -> RoutingDecision:
    """Route ``incident`` under ``policy``, with the verdict's category and severity when given."""
    facts = incident if isinstance(incident, IncidentFacts) else facts_of(incident)
    if verdict is not None:
        facts = facts.model_copy(
            update={
                "category": verdict.category,
                "severity": verdict.severity,
                "confidence": verdict.confidence,
            }
        )
    values = values_for_matchers(facts)
    activation = activation_for_cel(facts)
    ceiling = policy.automation_for(facts.service)
    has_repo = bool(facts.repo) or facts.service in policy.mapped_services

    evaluated: list[RuleTrace] = []
    flags: list[RuleFlag] = []
    notify: list[str] = []
    caps: list[Automation | None] = [ceiling]
    deciding: PolicyRule | None = None
    provisional: PolicyRule | None = None
    for rule in policy.rules_for(facts.service):
        trace = _evaluate(rule, values, activation, flags)
        evaluated.append(trace)
        if not trace.matched:
            continue
        caps.append(rule.rule.automation)
        notify.extend(name for name in rule.rule.notify if name not in notify)
        if rule.rule.continue_:
            trace.continued = True
            if rule.rule.route is not None:
                provisional = rule
            continue
        deciding = rule
        break
    chosen = deciding or provisional
    automation = least(*caps)

    if chosen is not None and chosen.rule.route is not None:
        route = chosen.rule.route
        reason = f"rule {chosen.name!r} ({chosen.scope}[{chosen.index}]) matched: {route.value}"
        default = None
        if route in (Route.auto_fix, Route.approval) and not has_repo:
            reason += f"; overridden to escalate: no repository is mapped to service {facts.service!r}"
            route = Route.escalate
        return RoutingDecision(
            route=route,
            automation=automation,
            matched_rule=_ref(chosen),
            default=default,
            evaluated=evaluated,
            flags=flags,
            notify=notify,
            reason=reason,
        )
    route, default, reason = _secure_default(facts, has_repo, automation)
    return RoutingDecision(
        route=route,
        automation=automation,
        matched_rule=None,
        default=default,
        evaluated=evaluated,
        flags=flags,
        notify=notify,
        reason=reason,
    )


def _secure_default(facts: IncidentFacts, has_repo: bool, automation: Automation) -> tuple[Route, str, str]:
    """No rule decided: unknown services escalate, low severity is watched, the rest is fixed."""
    if not has_repo:
        return (
            Route.escalate,
            "unknown_service",
            f"no rule matched and no repository is mapped to service {facts.service!r}: escalate to a person",
        )
    if facts.severity is Severity.low:
        return Route.monitor, "low_severity", "no rule matched and severity is low: monitor, no agent"
    return (
        Route.auto_fix,
        "auto_fix",
        f"no rule matched: auto_fix, automation up to {automation.value}",
    )
