"""Triage's decision for one received incident: classify, route, and say what to store."""

from __future__ import annotations

from typing import Any

from server.approvals.policy import ApprovalPolicy
from server.config import HealerConfig
from server.errors import ConfigError
from server.models import Incident, Status
from server.triage.classifier import (
    Classifier,
    TriageConfig,
    Verdict,
    classify_safely,
    load_classifier,
    rule_classifier,
)
from server.triage.facts import facts_of
from server.triage.policy import Route, RoutingPolicy, routing_policy
from server.triage.routing import RoutingDecision, explain
from server.triage.worker import Decision

#: Where each route takes a triaged incident.
ROUTE_STATUS: dict[Route, Status] = {
    Route.auto_fix: Status.pending,
    Route.monitor: Status.monitoring,
    Route.escalate: Status.escalated,
    Route.approval: Status.awaiting_approval,
}


def triage_config(config: HealerConfig) -> TriageConfig:
    extra: dict[str, Any] = config.model_extra or {}
    try:
        return TriageConfig.model_validate(extra.get("triage", {}))
    except ValueError as exc:
        source = str(config.source_file) if config.source_file else "healer.toml"
        raise ConfigError(f"the [triage] table is not valid: {exc}", file=source, key="triage") from exc


class Triage:
    """Classifier and routing policy, built once from healer.toml."""

    def __init__(self, config: HealerConfig) -> None:
        settings = triage_config(config)
        self.fallback: Classifier = rule_classifier(settings)
        self.classifier: Classifier = load_classifier(settings)
        self.policy: RoutingPolicy = routing_policy(config)

    @property
    def approval(self) -> ApprovalPolicy:
        return self.policy.config.approval

    def classify(self, incident: Incident) -> Verdict:
        return classify_safely(facts_of(incident), self.classifier, self.fallback)

    def route(self, incident: Incident, verdict: Verdict | None = None) -> RoutingDecision:
        return explain(incident, self.policy, verdict)

    def decide(self, incident: Incident) -> Decision:
        verdict = self.classify(incident)
        routing = self.route(incident, verdict)
        status = ROUTE_STATUS[routing.route]
        updates: dict[str, Any] = {
            "category": verdict.category.value,
            "confidence": verdict.confidence,
            "summary": verdict.summary,
            # The classifier may raise a severity, never lower what the reporter said.
            "severity": max(verdict.severity, incident.severity, key=lambda s: s.rank).value,
            "automation": routing.automation.value,
        }
        if not incident.suggested_fix and verdict.suggested_fix:
            updates["suggested_fix"] = verdict.suggested_fix
        routing_record = {
            "route": routing.route.value,
            "automation": routing.automation.value,
            "matched_rule": routing.matched_rule.model_dump() if routing.matched_rule else None,
            "default": routing.default,
            "flags": [flag.model_dump() for flag in routing.flags],
            "notify": routing.notify,
            "reason": routing.reason,
        }
        verdict_row = {
            "classifier": verdict.classifier,
            "category": verdict.category.value,
            "severity": verdict.severity.value,
            "summary": verdict.summary,
            "suggested_fix": verdict.suggested_fix,
            "confidence": verdict.confidence,
            "reason": {"explanation": verdict.explanation, **(verdict.reason.model_dump() if verdict.reason else {})},
            "routing": routing_record,
        }
        return Decision(
            status=status,
            route=routing.route.value,
            reason=routing.reason,
            updates=updates,
            detail={
                "category": verdict.category.value,
                "confidence": verdict.confidence,
                "classified": verdict.explanation,
                "automation": routing.automation.value,
                "matched_rule": routing_record["matched_rule"],
                "flags": routing_record["flags"],
            },
            verdict=verdict_row,
        )
