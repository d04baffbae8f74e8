"""[sources.*] in healer.toml: named instances, defaults on loopback, config errors, the bind check, the tables."""

from __future__ import annotations

import subprocess
import time
import tomllib
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.api.errors import status_of
from server.errors import ConfigError
from server.intake.sources import SOURCES, load_sources, severity_table, unauthenticated_sources
from server.intake.sources.alertmanager import AlertmanagerConfig
from server.intake.sources.errors import SourceNotFound, SourceUnauthorized
from server.intake.sources.intake import AlertIntake
from server.intake.sources.kestra import KestraAlert

from .conftest import HEALER, FakeClock, free_port, healer_env, start_server
from .sns_ca import RecordingFetcher

TWO_ALERTMANAGERS = """
[sources.am-prod]
type = "alertmanager"
bearer_token = "prod-token-1f-7e3a90c2"
service_label = "app"

[sources.am-staging]
type = "alertmanager"
basic_username = "staging"
basic_password = "staging-pw-2c-93d7a1e5"

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
    parsed = intake.receive("am-prod", {"Authorization": "Bearer prod-token-1f-7e3a90c2"}, body)
    assert (parsed.source_name, parsed.alerts[0].source_name, parsed.alerts[0].service) == ("am-prod", "am-prod", "web")
    with pytest.raises(SourceUnauthorized):
        intake.receive("am-staging", {"Authorization": "Bearer prod-token-1f-7e3a90c2"}, body)
    with pytest.raises(SourceNotFound) as caught:
        intake.receive("alertmanager", {}, body)
    assert status_of(caught.value) == 404
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


LONG = "a-secret-of-24-bytes-3c9"

UNAUTHENTICATED: list[tuple[str, dict[str, Any], bool]] = [
    ("alertmanager", {}, True),
    ("alertmanager", {"bearer_token": LONG}, False),
    ("grafana", {"hmac_secret": LONG}, False),
    ("sentry", {"client_secret": LONG}, False),
    ("pagerduty", {"routing_keys": [LONG]}, False),
    ("datadog", {"header_secret": LONG}, False),
    ("kestra", {"basic_username": "k", "basic_password": LONG}, False),
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
        for secret in ("prod-token-1f-7e3a90c2", "staging-pw-2c-93d7a1e5", "sentry-secret-9d"):
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


# `healer serve` as a real process: what it refuses before it binds, and what it warns about.
AM_WITHOUT_SECRET = '[sources.am-edge]\ntype = "alertmanager"\n'
AM_WITH_SECRET = '[sources.am-edge]\ntype = "alertmanager"\nbearer_token = "edge-token-5e-60b1f4d8"\n'
CW_ANY_TOPIC = '[sources.cw]\ntype = "cloudwatch"\nmax_age_seconds = 60\n'


def serve_env(home: Path, toml: str, *, api_token: bool = True) -> dict[str, str]:
    home.mkdir(exist_ok=True)
    (home / "healer.toml").write_text(toml)
    return healer_env(home, **({"HEALER_API_TOKEN": "api-token-for-tests-3f9a"} if api_token else {}))


@pytest.mark.parametrize(
    ("toml", "named"),
    [
        (AM_WITHOUT_SECRET, "am-edge"),  # Alertmanager with neither bearer token nor basic auth
        (CW_ANY_TOPIC, "cw"),  # CloudWatch without topic_arns: any AWS account's topic could sign
        (AM_WITH_SECRET + CW_ANY_TOPIC, "cw"),  # one open source is enough to refuse
    ],
)
def test_serve_on_all_interfaces_refuses_a_source_without_a_secret(tmp_path: Path, toml: str, named: str) -> None:
    env = serve_env(tmp_path / "home", toml)
    done = subprocess.run(
        [HEALER, "serve", "--host", "0.0.0.0", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "refusing to listen on 0.0.0.0" in done.stderr and named in done.stderr
    assert "edge-token-5e-60b1f4d8" not in done.stderr + done.stdout


def test_serve_on_all_interfaces_starts_when_every_source_has_a_secret(tmp_path: Path) -> None:
    running = start_server(serve_env(tmp_path / "home", AM_WITH_SECRET), tmp_path / "serve.log", host="0.0.0.0")
    try:
        # The source's own secret lets its deliveries in without the API token; anything else is refused.
        url = f"{running.url}/alerts/am-edge"
        good = httpx.post(
            url, json={"alerts": []}, headers={"Authorization": "Bearer edge-token-5e-60b1f4d8"}, timeout=5
        )
        wrong = httpx.post(url, json={"alerts": []}, headers={"Authorization": "Bearer guess"}, timeout=5)
        assert (good.status_code, wrong.status_code) == (202, 401), good.text
    finally:
        running.stop()
    assert "unauthenticated" not in running.log.read_text()


def test_serve_on_loopback_starts_and_says_which_sources_are_unauthenticated(tmp_path: Path) -> None:
    env = serve_env(tmp_path / "home", AM_WITHOUT_SECRET, api_token=False)
    port = free_port()
    stderr = tmp_path / "stderr.log"
    with stderr.open("wb") as handle:
        process = subprocess.Popen(
            [HEALER, "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=handle,
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                assert process.poll() is None, stderr.read_text()
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, stderr.read_text()
                time.sleep(0.1)
            # Open on loopback: a delivery without credentials is taken.
            taken = httpx.post(f"http://127.0.0.1:{port}/alerts/am-edge", json={"alerts": []}, timeout=5)
            assert taken.status_code == 202, taken.text
        finally:
            process.terminate()
            process.wait(10)
    warning = [line for line in stderr.read_text().splitlines() if "unauthenticated" in line]
    assert len(warning) == 1 and "am-edge" in warning[0] and "loopback" in warning[0]
