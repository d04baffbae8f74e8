"""Classification rules: the rule model users write in healer.toml, compiled once, merged with the shipped set.

A rule names a category and some regular expressions searched (case-insensitively unless
``case_sensitive``) in chosen incident fields. Higher ``priority`` wins when several rules match.
A ``[[triage.rules]]`` table whose ``name`` equals a shipped rule's replaces that rule; set
``enabled = false`` in it to drop the shipped rule altogether.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from server.models import Category, Severity
from server.triage.facts import TextField
from server.triage.prefilter import Literals, required_literals

#: Placeholders a summary template may use.
SUMMARY_FIELDS: frozenset[str] = frozenset({"service", "title", "match", "category", "rule", "error_line", "source"})
DEFAULT_FIELDS: tuple[TextField, ...] = ("title", "error", "log", "stack")
#: The default fields plus the labels, for rules whose evidence is often only in an alert's labels.
WITH_LABELS: tuple[TextField, ...] = (*DEFAULT_FIELDS, "labels")


def _compiles(pattern: str) -> str:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"{pattern!r} is not a valid regular expression: {exc}") from exc
    return pattern


#: A string that must compile as a Python regular expression; errors point at the item.
Regex = Annotated[str, AfterValidator(_compiles)]


class TriageRule(BaseModel):
    """One ``[[triage.rules]]`` table."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(
        pattern=r"^[a-z0-9][a-z0-9._-]{0,79}$", description="Unique; equal to a shipped name replaces it."
    )
    category: Category
    patterns: tuple[Regex, ...] = Field(min_length=1, description="Regular expressions (Python syntax).")
    fields: tuple[TextField, ...] = Field(default=DEFAULT_FIELDS, min_length=1)
    severity: Severity | None = Field(default=None, description="Overrides the reported severity when set.")
    summary: str | None = Field(
        default=None, max_length=300, description="Template, e.g. 'Pool exhausted in {service}'."
    )
    suggested_fix: str | None = Field(default=None, max_length=2000)
    priority: int = Field(default=50, ge=0, le=1000)
    confidence: float = Field(default=0.8, gt=0.0, le=1.0)
    case_sensitive: bool = False
    enabled: bool = True

    @field_validator("summary")
    @classmethod
    def _summary_fields_known(cls, template: str | None) -> str | None:
        if template is None:
            return None
        try:
            parsed = [(name, spec, conversion) for _, name, spec, conversion in string.Formatter().parse(template)]
        except ValueError as exc:
            raise ValueError(f"summary template is malformed: {exc}") from exc
        if any(name is not None and (spec or conversion) for name, spec, conversion in parsed):
            raise ValueError("summary template placeholders take no format spec or conversion: write {service}")
        names = {name for name, _, _ in parsed if name is not None}
        unknown = names - SUMMARY_FIELDS
        if unknown:
            allowed = ", ".join("{" + name + "}" for name in sorted(SUMMARY_FIELDS))
            raise ValueError(f"summary template uses unknown {sorted(unknown)}; it may use {allowed}")
        return template


@dataclass(frozen=True)
class CompiledPattern:
    source: str
    regex: re.Pattern[str]
    literals: Literals | None  # one of these is in any text the regex can match (case-folded)


@dataclass(frozen=True)
class CompiledRule:
    """A rule with its patterns compiled, and their literal prefilters worked out, once at load."""

    rule: TriageRule
    patterns: tuple[CompiledPattern, ...]

    @property
    def name(self) -> str:
        return self.rule.name


def compile_rule(rule: TriageRule) -> CompiledRule:
    flags = 0 if rule.case_sensitive else re.IGNORECASE
    return CompiledRule(
        rule=rule,
        patterns=tuple(
            CompiledPattern(source, re.compile(source, flags), required_literals(source, flags))
            for source in rule.patterns
        ),
    )


def merge_rules(shipped: Sequence[TriageRule], user: Iterable[TriageRule]) -> list[TriageRule]:
    """Shipped rules with user rules of the same name replacing them and new names appended."""
    merged = {rule.name: rule for rule in shipped}
    for rule in user:
        merged[rule.name] = rule
    return [rule for rule in merged.values() if rule.enabled]


def compile_rules(rules: Iterable[TriageRule]) -> tuple[CompiledRule, ...]:
    """Compile and order by priority, highest first; equal priorities keep their written order."""
    compiled = [compile_rule(rule) for rule in rules]
    return tuple(sorted(compiled, key=lambda item: -item.rule.priority))


@dataclass(frozen=True)
class Hit:
    """A rule's first match: the field (in the rule's field order), the pattern, the matched text."""

    rule: CompiledRule
    field: TextField
    pattern: str
    text: str


class RuleSet:
    """Compiled rules plus an index from literal to the patterns it enables.

    Matching reads each field once: one substring test per distinct literal finds the patterns
    that could match; only those run their regex. Per classification that is a few hundred
    C-speed ``in`` tests and a handful of regex searches instead of a regex per pattern.
    """

    def __init__(self, rules: Iterable[TriageRule]) -> None:
        self.rules = compile_rules(rules)
        index: dict[str, set[tuple[int, int]]] = {}
        always: set[tuple[int, int]] = set()
        for rule_index, compiled in enumerate(self.rules):
            for pattern_index, pattern in enumerate(compiled.patterns):
                ref = (rule_index, pattern_index)
                if pattern.literals is None:
                    always.add(ref)
                for literal in pattern.literals or ():
                    index.setdefault(literal, set()).add(ref)
        self._index = tuple((literal, tuple(refs)) for literal, refs in index.items())
        self._always = frozenset(always)
        self.fields: tuple[TextField, ...] = tuple(
            dict.fromkeys(field for compiled in self.rules for field in compiled.rule.fields)
        )

    def _candidates(self, folded: str) -> dict[int, list[int]]:
        enabled = set(self._always)
        enabled.update(*[refs for literal, refs in self._index if literal in folded])
        by_rule: dict[int, list[int]] = {}
        for rule_index, pattern_index in sorted(enabled):
            by_rule.setdefault(rule_index, []).append(pattern_index)
        return by_rule

    def hits(self, texts: Mapping[TextField, str]) -> list[Hit]:
        """Every matching rule, highest priority first, each with its first matching field."""
        candidates = {field: self._candidates(text.casefold()) for field, text in texts.items() if text}
        found: list[Hit] = []
        for rule_index, compiled in enumerate(self.rules):
            for field in compiled.rule.fields:
                patterns = candidates.get(field, {}).get(rule_index)
                if not patterns:
                    continue
                best: tuple[str, re.Match[str]] | None = None
                for pattern_index in patterns:
                    pattern = compiled.patterns[pattern_index]
                    match = pattern.regex.search(texts[field])
                    if match is not None and (best is None or match.start() < best[1].start()):
                        best = (pattern.source, match)
                if best is not None:
                    found.append(Hit(compiled, field, best[0], best[1].group(0)))
                    break
        return found
