"""Routing: the policy table rule by rule, errors as no-match, continue, secure defaults, the dry run."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from server.config import parse_config
from server.errors import ConfigError
from server.models import Category, Incident, Severity, StackFrame, Status
from server.triage.classifier import Verdict
from server.triage.facts import IncidentFacts, facts_of
from server.triage.matchers import Matcher, MatcherError, Op, parse_matcher
from server.triage.policy import Automation, Route, RoutingConfig, compile_policy, routing_policy
from server.triage.routing import (
    ExpressionResult,
    MatcherResult,
    RoutingDecision,
    RuleFlag,
    RuleRef,
    RuleTrace,
    explain,
)

MAPPED = ("checkout", "payments")


def policy(toml: str, mapped: tuple[str, ...] = MAPPED) -> Any:
    data = tomllib.loads(toml)
    return compile_policy(RoutingConfig.model_validate(data.get("routing", {})), mapped)


def incident(**fields: Any) -> IncidentFacts:
    fields.setdefault("service", "checkout")
    fields.setdefault("severity", Severity.high)
    return IncidentFacts(**fields)


def rule(match: str = "", cel: str | None = None, route: str = "escalate", extra: str = "") -> str:
    lines = ["[[routing.rules]]", 'name = "r"', f"match = [{match}]", f'route = "{route}"']
    if cel is not None:
        lines.append(f"cel = '{cel}'")
    if extra:
        lines.append(extra)
    return "\n".join(lines) + "\n"


# ---- one rule at a time -----------------------------------------------------------------------

# (rule, incident, matched?, flagged?)
CASES = [
    # = on a field
    (rule("'service=\"checkout\"'"), incident(), True, False),
    (rule("'service=\"payments\"'"), incident(), False, False),
    # != on a field
    (rule("'service!=\"checkout\"'"), incident(), False, False),
    (rule("'service!=\"payments\"'"), incident(), True, False),
    # =~ is anchored at both ends, as in Alertmanager
    (rule("'service=~\"check\"'"), incident(), False, False),
    (rule("'service=~\"out\"'"), incident(), False, False),
    (rule("'service=~\"check.*\"'"), incident(), True, False),
    (rule("'severity=~\"critical|high\"'"), incident(severity=Severity.high), True, False),
    (rule("'severity=~\"critical|high\"'"), incident(severity=Severity.medium), False, False),
    # !~ is the anchored negation
    (rule("'labels.env!~\"prod|staging\"'"), incident(labels={"env": "dev"}), True, False),
    (rule("'labels.env!~\"prod|staging\"'"), incident(labels={"env": "prod"}), False, False),
    (rule("'labels.env!~\"prod\"'"), incident(labels={"env": "production"}), True, False),  # anchored: no match
    # a bare name that is not a field is a label
    (rule("'env=\"dev\"'"), incident(labels={"env": "dev"}), True, False),
    # a table instead of a string
    (rule('{ name = "category", op = "=", value = "database" }'), incident(category=Category.database), True, False),
    # several matchers: all must hold
    (rule("'service=\"checkout\"', 'category=\"disk\"'"), incident(category=Category.database), False, False),
    # severity_rank as a string for matchers
    (rule("'severity_rank=~\"[34]\"'"), incident(severity=Severity.critical), True, False),
    # CEL with severity_rank as an integer
    (rule(cel="severity_rank >= 3"), incident(severity=Severity.high), True, False),
    (rule(cel="severity_rank >= 3"), incident(severity=Severity.medium), False, False),
    (
        rule(cel='category == "database" && labels["env"] == "prod"'),
        incident(category=Category.database, labels={"env": "prod"}),
        True,
        False,
    ),
    # matchers and CEL: both must hold
    (rule("'service=\"checkout\"'", cel="severity_rank == 4"), incident(severity=Severity.high), False, False),
    # a rule with no condition matches everything
    (rule(), incident(), True, False),
    # errors are no match, and flagged: a label the incident lacks
    (rule("'labels.team=\"db\"'"), incident(), False, True),
    (rule("'team=\"db\"'"), incident(), False, True),
    # ... a CEL type error, a missing map key, an answer that is not a boolean
    (rule(cel='severity_rank > "x"'), incident(), False, True),
    (rule(cel='labels["team"] == "db"'), incident(), False, True),
    (rule(cel="severity_rank"), incident(), False, True),
    # a safe way to ask about an optional label raises nothing
    (rule(cel='"team" in labels && labels["team"] == "db"'), incident(), False, False),
]


@pytest.mark.parametrize(("rules", "facts", "matched", "flagged"), CASES)
def test_rule_by_rule(rules: str, facts: IncidentFacts, matched: bool, flagged: bool) -> None:
    decision = explain(facts, policy(rules))
    assert decision.evaluated[0].matched is matched
    assert (decision.matched_rule is not None) is matched
    assert decision.route is (Route.escalate if matched else Route.auto_fix)
    assert bool(decision.flags) is flagged


def test_an_erroring_rule_is_skipped_and_the_next_rule_decides(caplog: pytest.LogCaptureFixture) -> None:
    rules = rule("'labels.team=\"db\"'", route="approval") + rule(cel="severity_rank >= 3", route="monitor")
    decision = explain(incident(), policy(rules))
    assert (decision.route, decision.matched_rule) == (
        Route.monitor,
        RuleRef(scope="routing.rules", index=1, name="r"),
    )
    assert decision.flags == [
        RuleFlag(
            rule=RuleRef(scope="routing.rules", index=0, name="r"),
            problem="matcher labels.team=\"db\": the incident has no label 'team'",
        )
    ]
    assert 'matcher labels.team="db" failed' in caplog.text


# ---- the dry run shows every evaluated rule -----------------------------------------------------


def test_explain_reports_each_matcher_and_expression() -> None:
    rules = """
[[routing.rules]]
name = "prod-db-approval"
match = ['category="database"', 'labels.env=~"prod|staging"']
cel = "severity_rank >= 3"
route = "approval"

[[routing.rules]]
name = "critical-escalates"
match = ['severity="critical"']
route = "escalate"

[[routing.rules]]
name = "never-reached"
route = "monitor"
"""
    facts = incident(severity=Severity.critical, category=Category.database, labels={"env": "dev"})
    assert explain(facts, policy(rules)) == RoutingDecision(
        route=Route.escalate,
        automation=Automation.pull_request,
        matched_rule=RuleRef(scope="routing.rules", index=1, name="critical-escalates"),
        default=None,
        evaluated=[
            RuleTrace(
                rule=RuleRef(scope="routing.rules", index=0, name="prod-db-approval"),
                matched=False,
                matchers=[
                    MatcherResult(matcher='category="database"', matched=True, value="database"),
                    MatcherResult(matcher='labels.env=~"prod|staging"', matched=False, value="dev"),
                ],
                expression=ExpressionResult(expression="severity_rank >= 3", matched=True),
            ),
            RuleTrace(
                rule=RuleRef(scope="routing.rules", index=1, name="critical-escalates"),
                matched=True,
                matchers=[MatcherResult(matcher='severity="critical"', matched=True, value="critical")],
            ),
        ],
        flags=[],
        notify=[],
        reason="rule 'critical-escalates' (routing.rules[1]) matched: escalate",
    )


def test_verdict_supplies_category_and_severity() -> None:
    rules = rule("'category=\"auth\"'", cel="severity_rank == 4", route="approval")
    verdict = Verdict(category=Category.auth, severity=Severity.critical, summary="s", confidence=0.9, explanation="e")
    assert explain(incident(severity=Severity.low), policy(rules), verdict).route is Route.approval
    assert explain(incident(severity=Severity.low), policy(rules)).route is Route.monitor  # no verdict: low


# ---- continue -------------------------------------------------------------------------------------


def test_continue_applies_automation_and_notify_then_a_later_rule_decides() -> None:
    rules = """
[[routing.rules]]
name = "payments-careful"
match = ['service="payments"']
automation = "patch"
notify = ["payments-oncall"]
continue = true

[[routing.rules]]
name = "db-fix"
match = ['category="database"']
route = "auto_fix"
"""
    decision = explain(incident(service="payments", category=Category.database), policy(rules))
    assert (decision.route, decision.automation, decision.notify) == (
        Route.auto_fix,
        Automation.patch,
        ["payments-oncall"],
    )
    assert decision.matched_rule == RuleRef(scope="routing.rules", index=1, name="db-fix")
    assert [trace.continued for trace in decision.evaluated] == [True, False]


def test_continue_rule_route_is_used_when_nothing_later_matches() -> None:
    rules = rule("'service=\"checkout\"'", route="monitor", extra="continue = true") + rule(
        "'service=\"payments\"'", route="auto_fix"
    )
    decision = explain(incident(), policy(rules))
    assert (decision.route, decision.matched_rule) == (Route.monitor, RuleRef(scope="routing.rules", index=0, name="r"))
    assert len(decision.evaluated) == 2


def test_without_continue_the_first_match_wins() -> None:
    rules = rule(route="monitor") + rule(route="escalate")
    decision = explain(incident(), policy(rules))
    assert decision.route is Route.monitor
    assert len(decision.evaluated) == 1


# ---- per service, automation levels ----------------------------------------------------------------

SERVICES = """
[routing]
automation = "pull_request"

[[routing.rules]]
name = "global-db"
match = ['category="database"']
route = "auto_fix"

[routing.services.payments]
automation = "patch"

[[routing.services.payments.rules]]
name = "payments-auth"
match = ['category="auth"']
route = "approval"
automation = "pull_request"

[[routing.services.payments.rules]]
name = "payments-db"
match = ['category="database"']
route = "auto_fix"
automation = "root_cause_only"
"""


@pytest.mark.parametrize(
    ("service", "category", "expected"),
    [
        # the service's own rules come first and may lower its level
        ("payments", Category.database, (Route.auto_fix, Automation.root_cause_only, "payments-db")),
        # a rule cannot raise the service's level
        ("payments", Category.auth, (Route.approval, Automation.patch, "payments-auth")),
        # another service falls through to the global rules and the global level
        ("checkout", Category.database, (Route.auto_fix, Automation.pull_request, "global-db")),
        # no rule: the secure default, at the service's level
        ("payments", Category.network, (Route.auto_fix, Automation.patch, None)),
    ],
)
def test_service_rules_and_automation(service: str, category: Category, expected: tuple[Any, ...]) -> None:
    decision = explain(incident(service=service, category=category), policy(SERVICES))
    name = decision.matched_rule.name if decision.matched_rule else None
    assert (decision.route, decision.automation, name) == expected


# ---- secure defaults -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("facts", "route", "default"),
    [
        # no repository for the service: a person looks, whatever the severity
        (incident(service="legacy-erp", severity=Severity.critical), Route.escalate, "unknown_service"),
        (incident(service="legacy-erp", severity=Severity.low), Route.escalate, "unknown_service"),
        # a repository named on the incident itself counts
        (incident(service="legacy-erp", repo="erp"), Route.auto_fix, "auto_fix"),
        # low severity is watched, not fixed
        (incident(severity=Severity.low), Route.monitor, "low_severity"),
        # the rest goes to agents, up to a pull request
        (incident(severity=Severity.medium), Route.auto_fix, "auto_fix"),
    ],
)
def test_secure_defaults_without_a_policy(facts: IncidentFacts, route: Route, default: str) -> None:
    decision = explain(facts, policy(""))
    assert (decision.route, decision.default, decision.automation) == (route, default, Automation.pull_request)
    assert decision.matched_rule is None


def test_a_rule_cannot_send_an_unmapped_service_to_agents() -> None:
    decision = explain(incident(service="legacy-erp"), policy(rule(route="auto_fix")))
    assert decision.route is Route.escalate
    assert decision.reason == (
        "rule 'r' (routing.rules[0]) matched: auto_fix; overridden to escalate: "
        "no repository is mapped to service 'legacy-erp'"
    )


def test_policy_from_healer_toml_maps_services_through_repos(tmp_path: Any) -> None:
    config = parse_config(
        {
            "repos": {"shop": {"path": str(tmp_path), "services": ["checkout", "cart"]}},
            "routing": {"rules": [{"name": "low", "match": ['severity="low"'], "route": "monitor"}]},
        }
    )
    compiled = routing_policy(config)
    assert compiled.mapped_services == frozenset({"shop", "checkout", "cart"})
    assert explain(incident(service="cart"), compiled).route is Route.auto_fix
    assert explain(incident(service="search"), compiled).route is Route.escalate


# ---- loading errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("routing", "key", "message"),
    [
        ({"rules": [{"cel": "severity_rank >=", "route": "monitor"}]}, "routing.rules[0].cel", "does not compile"),
        (
            {"rules": [{"cel": "sev_rank >= 3", "route": "monitor"}]},
            "routing.rules[0].cel",
            "uses unknown ['sev_rank']",
        ),
        (
            {"rules": [{"match": ['severity=~"("'], "route": "monitor"}]},
            "routing.rules[0].match[0]",
            "not a valid regular",
        ),
        ({"rules": [{"match": ["severity"], "route": "monitor"}]}, "routing.rules[0].match[0]", "cannot read matcher"),
        ({"rules": [{"name": "x"}]}, "routing.rules[0]", "needs `route`"),
        ({"rules": [{"route": "fix_it"}]}, "routing.rules[0].route", "Input should be"),
        ({"services": {"pay": {"automation": "all"}}}, "routing.services.pay.automation", "Input should be"),
    ],
)
def test_bad_policy_is_a_config_error_naming_the_key(routing: dict[str, Any], key: str, message: str) -> None:
    config = parse_config({"routing": routing})
    with pytest.raises(ConfigError) as raised:
        routing_policy(config)
    assert raised.value.key == key
    assert message in str(raised.value)


# ---- matcher syntax ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('severity=~"critical|high"', Matcher(name="severity", op=Op.regex, value="critical|high")),
        ("service!=payments", Matcher(name="service", op=Op.ne, value="payments")),
        ('  labels.env !~ "prod|staging" ', Matcher(name="labels.env", op=Op.not_regex, value="prod|staging")),
        ('title="say \\"hi\\" \\\\ bye"', Matcher(name="title", op=Op.eq, value='say "hi" \\ bye')),
        ('repo=""', Matcher(name="repo", op=Op.eq, value="")),
        ("a=b=c", Matcher(name="a", op=Op.eq, value="b=c")),
    ],
)
def test_matcher_strings(text: str, expected: Matcher) -> None:
    assert parse_matcher(text) == expected
    assert Matcher.model_validate(text) == expected


@pytest.mark.parametrize(
    "text",
    ["severity", '="x"', '1abc="x"', 'name="unterminated', 'name="a"b"', "name=~(", 'name="x"  extra"'],
)
def test_matcher_strings_refused(text: str) -> None:
    with pytest.raises((MatcherError, ValidationError)):
        parse_matcher(text)


def test_matcher_text_round_trips() -> None:
    for matcher in (Matcher(name="title", op=Op.eq, value='a"b\\c'), Matcher(name="t", op=Op.regex, value=r"\d+\.x")):
        assert parse_matcher(matcher.text) == matcher


def test_routes_a_stored_incident_as_well_as_facts() -> None:
    seen = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
    stored = Incident(
        id="INC-20261122-0042",
        fingerprint="f",
        source="sentry",
        service="payments",
        title="OperationalError",
        error="FATAL: password authentication failed",
        stack_frames=[StackFrame(filename="app/db.py", lineno=42, function="connect", context_line="  pool.get()  ")],
        severity=Severity.high,
        category=Category.auth,
        labels={"env": "prod"},
        status=Status.triaged,
        first_seen=seen,
        last_seen=seen,
        trace_id="t",
        updated_at=seen,
        occurrences=7,
    )
    facts = facts_of(stored)
    assert (facts.stack, facts.category, facts.occurrences, facts.log) == (
        "connect (app/db.py:42)\n    pool.get()",
        Category.auth,
        7,
        "",
    )
    rules = rule("'category=\"auth\"'", cel='occurrences > 5 && labels.env == "prod"', route="approval")
    assert explain(stored, policy(rules)).route is Route.approval
