"""Classifiers: the verdict model, the rule classifier (the offline default) and plugin loading.

A classifier is anything with ``name`` and ``classify(facts) -> Verdict``. Others are found
through the ``devops_healer.classifiers`` entry point group: each entry point names a factory
``(TriageConfig) -> Classifier`` and ``[triage] classifier = "<entry point name>"`` picks it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from importlib.metadata import entry_points
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from server.errors import ConfigError
from server.models import Category, Severity
from server.triage.facts import IncidentFacts, TextField
from server.triage.rules import CompiledRule, Hit, RuleSet, TriageRule, merge_rules
from server.triage.shipped_rules import SHIPPED_RULES

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "devops_healer.classifiers"
#: How much of each field the rules read: the head and the tail (errors tend to sit at the end of logs).
SCAN_HEAD = 16_000
SCAN_TAIL = 16_000
SUMMARY_MAX = 200
MATCH_MAX = 200


class TriageConfig(BaseModel):
    """The ``[triage]`` table of healer.toml."""

    model_config = ConfigDict(extra="forbid")

    classifier: str = Field(default="rules", description="An entry point name in devops_healer.classifiers.")
    shipped_rules: bool = Field(default=True, description="false: use only the rules written here.")
    rules: list[TriageRule] = Field(default_factory=list)


class Reason(BaseModel):
    """Why a verdict was reached: which rule matched on which field, and the text it matched."""

    rule: str
    field: TextField
    pattern: str
    matched: str
    also_matched: list[str] = Field(default_factory=list, description="Other rules that matched, by priority.")


class Verdict(BaseModel):
    """A classifier's answer for one incident."""

    category: Category
    severity: Severity
    summary: str
    suggested_fix: str | None = None
    confidence: float = Field(ge=0.0, le=1.0)
    reason: Reason | None = Field(default=None, description="None when no rule matched.")
    explanation: str = Field(description="One line: the rule, the field and the matched text.")
    classifier: str = "rules"


@runtime_checkable
class Classifier(Protocol):
    name: str

    def classify(self, facts: IncidentFacts) -> Verdict: ...


def _window(text: str) -> str:
    if len(text) <= SCAN_HEAD + SCAN_TAIL:
        return text
    return text[:SCAN_HEAD] + "\n" + text[-SCAN_TAIL:]


def one_line(text: str, limit: int) -> str:
    """Collapse whitespace to single spaces and cap the length with an ellipsis."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


class _SafeFields(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


class RuleClassifier:
    """Classify by the first matching rule in priority order; rules are compiled once, here."""

    name = "rules"

    def __init__(self, rules: Sequence[TriageRule]) -> None:
        self.ruleset = RuleSet(rules)
        self.rules: tuple[CompiledRule, ...] = self.ruleset.rules

    @classmethod
    def from_config(cls, config: TriageConfig) -> RuleClassifier:
        shipped = SHIPPED_RULES if config.shipped_rules else ()
        return cls(merge_rules(shipped, config.rules))

    def hits(self, facts: IncidentFacts) -> list[Hit]:
        """Every rule that matches, highest priority first, with its first matching field."""
        return self.ruleset.hits({field: _window(facts.text(field)) for field in self.ruleset.fields})

    def classify(self, facts: IncidentFacts) -> Verdict:
        found = self.hits(facts)
        if not found:
            return _unmatched(facts, self.name)
        best = found[0]
        rule = best.rule.rule
        agreeing = sum(1 for hit in found[1:] if hit.rule.rule.category == rule.category)
        rivals = [hit for hit in found[1:] if hit.rule.rule.category != rule.category]
        confidence = rule.confidence + min(agreeing, 2) * 0.03
        if any(hit.rule.rule.priority >= rule.priority - 10 for hit in rivals):
            confidence -= 0.15
        confidence = round(max(0.05, min(0.99, confidence)), 2)
        matched = one_line(best.text, MATCH_MAX)
        first_lines = (facts.error or facts.title).strip().splitlines()
        fields = _SafeFields(
            service=facts.service,
            source=facts.source,
            title=one_line(facts.title, 120),
            match=matched,
            category=rule.category.value,
            rule=rule.name,
            error_line=one_line(first_lines[0], 120) if first_lines else "",
        )
        template = rule.summary or "{category}: {match}"
        summary = one_line(template.format_map(fields), SUMMARY_MAX)
        return Verdict(
            category=rule.category,
            severity=rule.severity or facts.severity,
            summary=summary,
            suggested_fix=rule.suggested_fix,
            confidence=confidence,
            reason=Reason(
                rule=rule.name,
                field=best.field,
                pattern=best.pattern,
                matched=matched,
                also_matched=[hit.rule.name for hit in found[1:]],
            ),
            explanation=f"rule {rule.name!r} matched {best.field}: {matched!r}",
            classifier=self.name,
        )


def _unmatched(facts: IncidentFacts, classifier: str) -> Verdict:
    first = (facts.error or facts.title or "").strip().splitlines()
    headline = one_line(first[0], 150) if first else "no details"
    return Verdict(
        category=Category.application,
        severity=facts.severity,
        summary=one_line(f"Unclassified error in {facts.service}: {headline}", SUMMARY_MAX),
        suggested_fix=None,
        confidence=0.2,
        reason=None,
        explanation="no rule matched; application is the default category",
        classifier=classifier,
    )


def rule_classifier(config: TriageConfig) -> RuleClassifier:
    """The ``rules`` entry point: shipped rules merged with ``[[triage.rules]]``."""
    return RuleClassifier.from_config(config)


def available_classifiers() -> list[str]:
    return sorted({ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)})


def load_classifier(config: TriageConfig) -> Classifier:
    """The classifier ``[triage] classifier`` names, built from its entry point's factory."""
    if config.classifier == "rules":
        # The default needs no installed metadata (a source checkout run without installing).
        return rule_classifier(config)
    found = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == config.classifier]
    if not found:
        known = ", ".join(available_classifiers()) or "none installed"
        raise ConfigError(
            f"no classifier named {config.classifier!r} in entry point group {ENTRY_POINT_GROUP}; installed: {known}",
            key="triage.classifier",
        )
    try:
        factory: Callable[[TriageConfig], object] = found[0].load()
        classifier = factory(config)
    except Exception as exc:
        raise ConfigError(
            f"classifier {config.classifier!r} ({found[0].value}) failed to load: {exc}",
            key="triage.classifier",
        ) from exc
    if not isinstance(classifier, Classifier):
        raise ConfigError(
            f"classifier {config.classifier!r} ({found[0].value}) returned {type(classifier).__name__}, "
            "which has no `name` and `classify(facts) -> Verdict`",
            key="triage.classifier",
        )
    return classifier


def classify_safely(facts: IncidentFacts, primary: Classifier, fallback: Classifier) -> Verdict:
    """Ask ``primary``; if it raises or answers nonsense, log it and answer with ``fallback``."""
    if primary is fallback:
        return fallback.classify(facts)
    try:
        # A plugin's type hints are a promise, not a guarantee: check what came back.
        answer: object = primary.classify(facts)
        if isinstance(answer, Verdict):
            return answer
        problem = f"returned {type(answer).__name__}, not a Verdict"
    except Exception as exc:
        problem = f"raised {type(exc).__name__}: {exc}"
    log.warning("classifier %s %s; using %s", primary.name, problem, fallback.name)
    verdict = fallback.classify(facts)
    note = f"classifier {primary.name!r} {one_line(problem, 200)}; {fallback.name} used. "
    return verdict.model_copy(update={"explanation": note + verdict.explanation})
