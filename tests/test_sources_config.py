"""[sources.*] in healer.toml: named instances, defaults on loopback, config errors, the bind check, the tables."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest

from server.errors import ConfigError
from server.sources import SOURCES, load_sources, severity_table, unauthenticated_sources
from server.sources.alertmanager import AlertmanagerConfig
from server.sources.errors import SourceNotFound, SourceUnauthorized
from server.sources.intake import AlertIntake
from server.sources.kestra import KestraAlert

from .conftest import FakeClock
from .sns_ca import RecordingFetcher

TWO_ALERTMANAGERS = """
[sources.am-prod]
type = "alertmanager"
bearer_token = "prod-token-1f"
service_label = "app"

[sources.am-staging]
type = "alertmanager"
basic_username = "staging"
basic_password = "staging-pw-2c"

[sources.sentry]
client_secret = "sentry-secret-9d"
"""


def test_named_instances_each_at_their_own_path() -> None:
    sources = load_sources(tomllib.loads(TWO_ALERTMANAGERS))
    assert sorted(sources) == [
        "am-prod",
        "am-staging",
        "cloudwatch",
        "datadog",
        "grafana",
        "kestra",
        "pagerduty",
        "sentry",
    ]
    prod = sources["am-prod"]
    assert isinstance(prod, AlertmanagerConfig) and (prod.name, prod.service_label) == ("am-prod", "app")
    assert sources["sentry"].type == "sentry"  # type defaults to the table's name when it is a type
    # A type with a configured instance gets no open default at /alerts/<type>.
    assert "alertmanager" not in sources


def test_instances_verify_with_their_own_secrets(clock: FakeClock) -> None:
    intake = AlertIntake(load_sources(tomllib.loads(TWO_ALERTMANAGERS)), fetch=RecordingFetcher(), clock=clock)
    body = b'{"alerts": [{"labels": {"alertname": "x", "app": "web"}}]}'
    parsed = intake.receive("am-prod", {"Authorization": "Bearer prod-token-1f"}, body)
    assert (parsed.source_name, parsed.alerts[0].source_name, parsed.alerts[0].service) == ("am-prod", "am-prod", "web")
    with pytest.raises(SourceUnauthorized):
        intake.receive("am-staging", {"Authorization": "Bearer prod-token-1f"}, body)
    with pytest.raises(SourceNotFound) as caught:
        intake.receive("alertmanager", {}, body)
    assert caught.value.status_code == 404
    assert "am-prod, am-staging" in caught.value.message


def test_defaults_only_on_loopback() -> None:
    assert sorted(load_sources({})) == sorted(SOURCES)
    assert load_sources({}, loopback=False) == {}
    assert list(load_sources(tomllib.loads(TWO_ALERTMANAGERS), loopback=False)) == ["am-prod", "am-staging", "sentry"]


@pytest.mark.parametrize(
    ("toml", "key", "words"),
    [
        ('[sources.x]\nbearer_token = "t"', "sources.x.type", "missing; expected one of alertmanager, grafana"),
        ('[sources.x]\ntype = "nagios"', "sources.x.type", "expected one of alertmanager"),
        ('[sources.am]\ntype = "alertmanager"\nbearer_tokn = "t"', "sources.am", "bearer_tokn: unknown key"),
        ('[sources.am]\ntype = "alertmanager"\nbasic_username = "u"', "sources.am", "set both or neither"),
        (
            '[sources.pd]\ntype = "pagerduty"\nsigning_secrets = "one"',
            "sources.pd",
            "signing_secrets: expected a valid list",
        ),
        ('[sources.g]\ntype = "grafana"\nmax_age_seconds = 0', "sources.g", "max_age_seconds: expected greater than"),
        (
            '[sources.s]\ntype = "sentry"\ndefault_severity = "urgent"',
            "sources.s",
            "default_severity: expected 'critical'",
        ),
        ('[sources.Prod]\ntype = "sentry"', "sources.Prod", "lower-case letters"),
        ('[sources.am]\ntype = "alertmanager"\nname = "other"', "sources.am.name", "unknown key"),
        ('sources = "all"', "sources", "expected a table"),
    ],
)
def test_config_errors_name_the_key(toml: str, key: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_sources(tomllib.loads(toml), file="/etc/healer.toml")
    assert caught.value.key == key and caught.value.file == "/etc/healer.toml"
    assert words in caught.value.message


def test_config_errors_do_not_echo_secrets() -> None:
    with pytest.raises(ConfigError) as caught:
        load_sources({"sources": {"pd": {"type": "pagerduty", "signing_secrets": "s3cr3t-value"}}})
    assert "s3cr3t-value" not in caught.value.message


UNAUTHENTICATED: list[tuple[str, dict[str, Any], bool]] = [
    ("alertmanager", {}, True),
    ("alertmanager", {"bearer_token": "t"}, False),
    ("grafana", {"hmac_secret": "s"}, False),
    ("sentry", {"client_secret": "s"}, False),
    ("pagerduty", {"routing_keys": ["k"]}, False),
    ("datadog", {"header_secret": "s"}, False),
    ("kestra", {"basic_username": "k", "basic_password": "p"}, False),
    ("cloudwatch", {"topic_arns": ["arn:aws:sns:us-east-1:1:t"]}, False),
    ("cloudwatch", {"max_age_seconds": 60}, True),  # any topic may sign: not authenticated
]


@pytest.mark.parametrize(("kind", "config", "open_"), UNAUTHENTICATED)
def test_unauthenticated_sources(kind: str, config: dict[str, Any], open_: bool) -> None:
    sources = load_sources({"sources": {kind: config}}, loopback=False)
    assert unauthenticated_sources(sources) == ([kind] if open_ else [])


def test_every_default_source_is_unauthenticated() -> None:
    assert unauthenticated_sources(load_sources({})) == sorted(SOURCES)


def test_secrets_never_appear_in_reprs() -> None:
    sources = load_sources(tomllib.loads(TWO_ALERTMANAGERS))
    for config in sources.values():
        text = repr(config) + str(config.model_dump())
        for secret in ("prod-token-1f", "staging-pw-2c", "sentry-secret-9d"):
            assert secret not in text


def test_severity_table_covers_every_source_with_a_default_row() -> None:
    rows = severity_table()
    assert {row.source_type for row in rows} == set(SOURCES)
    defaults = {row.source_type: row.severity for row in rows if row.level == "(missing or other)"}
    assert defaults == {
        "alertmanager": "medium",
        "grafana": "medium",
        "sentry": "high",
        "pagerduty": "high",
        "datadog": "high",
        "cloudwatch": "high",
        "kestra": "high",
    }
    assert {(row.level, row.severity) for row in rows if row.source_type == "sentry"} >= {
        ("fatal", "critical"),
        ("error", "high"),
        ("warning", "medium"),
        ("info", "low"),
    }


def test_kestra_contract_is_published_with_descriptions() -> None:
    schema = KestraAlert.model_json_schema(by_alias=True)
    assert set(schema["required"]) == {"namespace", "flowId", "executionId"}
    assert schema["additionalProperties"] is False
    for name in (
        "title",
        "service",
        "severity",
        "log",
        "error",
        "namespace",
        "flowId",
        "executionId",
        "taskId",
        "link",
    ):
        assert schema["properties"][name]["description"], name
