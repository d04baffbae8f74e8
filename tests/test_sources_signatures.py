"""Who sent it: each source's checks accept the real sender and refuse tampering, wrong secrets and old stamps."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any

import pytest

from server.api.errors import status_of
from server.intake.sources import load_sources
from server.intake.sources.errors import SourceUnauthorized
from server.intake.sources.intake import AlertIntake

from .conftest import FIXTURES, FakeClock
from .sns_ca import RecordingFetcher

AM_BODY = json.dumps(
    {"status": "firing", "alerts": [{"status": "firing", "labels": {"alertname": "Down", "service": "api"}}]}
).encode()
SENTRY_BODY = (FIXTURES / "alerts/sentry/issue_created_for_exception.json").read_bytes()
PD_V3_BODY = (FIXTURES / "alerts/pagerduty/triggered_v3.json").read_bytes()
PD_V2_BODY = json.dumps(
    {
        "routing_key": "R0UTINGKEY-1-5f3c8a0d",
        "event_action": "trigger",
        "dedup_key": "db-down",
        "payload": {"summary": "db down", "source": "db-1", "severity": "critical"},
    }
).encode()
DD_BODY = json.dumps(
    {"id": "42", "title": "[Triggered] CPU high", "alert_cycle_key": "7", "tags": "service:web"}
).encode()
KESTRA_BODY = json.dumps(
    {"namespace": "company.data", "flowId": "etl", "executionId": "4wjtkzwVGBM9yKnjm3yv8r", "error": "boom"}
).encode()
EVENTBRIDGE_BODY = json.dumps(
    {
        "id": "e-1",
        "detail-type": "CloudWatch Alarm State Change",
        "source": "aws.cloudwatch",
        "account": "123456789012",
        "region": "eu-west-1",
        "resources": ["arn:aws:cloudwatch:eu-west-1:123456789012:alarm:api-5xx"],
        "detail": {"alarmName": "api-5xx", "state": {"value": "ALARM", "reason": "5xx above 5%"}},
    }
).encode()


def hex_hmac(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def tampered(body: bytes) -> bytes:
    """The same JSON with one more byte: any change to the raw bytes must fail the signature."""
    return body + b" "


NOW = FakeClock().current
NOW_S = str(int(NOW.timestamp()))

# A row: source type, its config, the headers sent, the body sent, and None (accepted) or the
# words the refusal must contain.
Row = tuple[str, dict[str, Any], dict[str, str], bytes, str | None]

ROWS: dict[str, Row] = {
    # Alertmanager http_config: bearer token or basic auth.
    "am bearer ok": (
        "alertmanager",
        {"bearer_token": "tok-9f3a-81c2d4e6b7"},
        {"Authorization": "Bearer tok-9f3a-81c2d4e6b7"},
        AM_BODY,
        None,
    ),
    "am bearer scheme any case": (
        "alertmanager",
        {"bearer_token": "tok-9f3a-81c2d4e6b7"},
        {"authorization": "bearer tok-9f3a-81c2d4e6b7"},
        AM_BODY,
        None,
    ),
    "am bearer wrong": (
        "alertmanager",
        {"bearer_token": "tok-9f3a-81c2d4e6b7"},
        {"Authorization": "Bearer nope"},
        AM_BODY,
        "bearer",
    ),
    "am bearer missing": (
        "alertmanager",
        {"bearer_token": "tok-9f3a-81c2d4e6b7"},
        {},
        AM_BODY,
        "no Authorization header was sent",
    ),
    "am basic ok": (
        "alertmanager",
        {"basic_username": "am", "basic_password": "pw-4c1d-9e2a7f60b3"},
        {"Authorization": basic("am", "pw-4c1d-9e2a7f60b3")},
        AM_BODY,
        None,
    ),
    "am basic wrong password": (
        "alertmanager",
        {"basic_username": "am", "basic_password": "pw-4c1d-9e2a7f60b3"},
        {"Authorization": basic("am", "pw-wrong")},
        AM_BODY,
        "basic auth",
    ),
    "am basic garbage": (
        "alertmanager",
        {"basic_username": "am", "basic_password": "pw-4c1d-9e2a7f60b3"},
        {"Authorization": "Basic !!!"},
        AM_BODY,
        "basic auth",
    ),
    "am nothing configured": ("alertmanager", {}, {}, AM_BODY, None),
    # Grafana HMAC over the body, or over "timestamp:body" with a timestamp header.
    "grafana hmac ok": (
        "grafana",
        {"hmac_secret": "gsec-51b2-a7c40e9d"},
        {"X-Grafana-Alerting-Signature": hex_hmac("gsec-51b2-a7c40e9d", AM_BODY)},
        AM_BODY,
        None,
    ),
    "grafana hmac tampered body": (
        "grafana",
        {"hmac_secret": "gsec-51b2-a7c40e9d"},
        {"X-Grafana-Alerting-Signature": hex_hmac("gsec-51b2-a7c40e9d", AM_BODY)},
        tampered(AM_BODY),
        "does not match",
    ),
    "grafana hmac wrong secret": (
        "grafana",
        {"hmac_secret": "gsec-51b2-a7c40e9d"},
        {"X-Grafana-Alerting-Signature": hex_hmac("gsec-0ther-4a1e2d9c", AM_BODY)},
        AM_BODY,
        "does not match",
    ),
    "grafana hmac missing": ("grafana", {"hmac_secret": "gsec-51b2-a7c40e9d"}, {}, AM_BODY, "header is missing"),
    "grafana custom header": (
        "grafana",
        {"hmac_secret": "gsec-51b2-a7c40e9d", "hmac_header": "X-Sig"},
        {"X-Sig": hex_hmac("gsec-51b2-a7c40e9d", AM_BODY)},
        AM_BODY,
        None,
    ),
    "grafana timestamp ok": (
        "grafana",
        {"hmac_secret": "gsec-51b2-a7c40e9d", "timestamp_header": "X-Grafana-Alerting-Timestamp"},
        {
            "X-Grafana-Alerting-Signature": hex_hmac("gsec-51b2-a7c40e9d", NOW_S.encode() + b":" + AM_BODY),
            "X-Grafana-Alerting-Timestamp": NOW_S,
        },
        AM_BODY,
        None,
    ),
    "grafana timestamp too old": (
        "grafana",
        {
            "hmac_secret": "gsec-51b2-a7c40e9d",
            "timestamp_header": "X-Grafana-Alerting-Timestamp",
            "max_age_seconds": 300,
        },
        {
            "X-Grafana-Alerting-Signature": hex_hmac(
                "gsec-51b2-a7c40e9d", f"{int(NOW.timestamp()) - 301}:".encode() + AM_BODY
            ),
            "X-Grafana-Alerting-Timestamp": str(int(NOW.timestamp()) - 301),
        },
        AM_BODY,
        "301 s from now",
    ),
    "grafana timestamp not signed": (
        "grafana",
        {"hmac_secret": "gsec-51b2-a7c40e9d", "timestamp_header": "X-Grafana-Alerting-Timestamp"},
        {
            "X-Grafana-Alerting-Signature": hex_hmac("gsec-51b2-a7c40e9d", AM_BODY),
            "X-Grafana-Alerting-Timestamp": NOW_S,
        },
        AM_BODY,
        "does not match",
    ),
    "grafana timestamp missing": (
        "grafana",
        {"hmac_secret": "gsec-51b2-a7c40e9d", "timestamp_header": "X-Grafana-Alerting-Timestamp"},
        {"X-Grafana-Alerting-Signature": hex_hmac("gsec-51b2-a7c40e9d", AM_BODY)},
        AM_BODY,
        "not Unix seconds",
    ),
    "grafana basic and hmac, basic missing": (
        "grafana",
        {"hmac_secret": "gsec-51b2-a7c40e9d", "basic_username": "g", "basic_password": "pw-4c1d-9e2a7f60b3"},
        {"X-Grafana-Alerting-Signature": hex_hmac("gsec-51b2-a7c40e9d", AM_BODY)},
        AM_BODY,
        "basic auth",
    ),
    # Sentry: hex HMAC-SHA256 of the raw body with the client secret.
    "sentry ok": (
        "sentry",
        {"client_secret": "csec-77ad-e3f1c9b8"},
        {"Sentry-Hook-Signature": hex_hmac("csec-77ad-e3f1c9b8", SENTRY_BODY), "Sentry-Hook-Resource": "issue"},
        SENTRY_BODY,
        None,
    ),
    "sentry tampered": (
        "sentry",
        {"client_secret": "csec-77ad-e3f1c9b8"},
        {"Sentry-Hook-Signature": hex_hmac("csec-77ad-e3f1c9b8", SENTRY_BODY)},
        tampered(SENTRY_BODY),
        "does not match",
    ),
    "sentry wrong secret": (
        "sentry",
        {"client_secret": "csec-77ad-e3f1c9b8"},
        {"Sentry-Hook-Signature": hex_hmac("csec-2222", SENTRY_BODY)},
        SENTRY_BODY,
        "does not match",
    ),
    "sentry unsigned (legacy plugin)": (
        "sentry",
        {"client_secret": "csec-77ad-e3f1c9b8"},
        {},
        SENTRY_BODY,
        "legacy WebHooks",
    ),
    # PagerDuty v3: any v1 signature under any configured secret (rotation).
    "pagerduty v3 ok": (
        "pagerduty",
        {"signing_secrets": ["pd-new-0c4e-5d81b3a2"]},
        {"X-PagerDuty-Signature": "v1=" + hex_hmac("pd-new-0c4e-5d81b3a2", PD_V3_BODY)},
        PD_V3_BODY,
        None,
    ),
    "pagerduty v3 rotated: old secret still listed": (
        "pagerduty",
        {"signing_secrets": ["pd-new-0c4e-5d81b3a2", "pd-old-d1e9-4c7b20fa"]},
        {"X-PagerDuty-Signature": "v1=" + hex_hmac("pd-old-d1e9-4c7b20fa", PD_V3_BODY)},
        PD_V3_BODY,
        None,
    ),
    "pagerduty v3 rotated: two signatures, second matches": (
        "pagerduty",
        {"signing_secrets": ["pd-new-0c4e-5d81b3a2"]},
        {
            "X-PagerDuty-Signature": f"v1={hex_hmac('pd-old-d1e9-4c7b20fa', PD_V3_BODY)},"
            f"v1={hex_hmac('pd-new-0c4e-5d81b3a2', PD_V3_BODY)}"
        },
        PD_V3_BODY,
        None,
    ),
    "pagerduty v3 rotated out": (
        "pagerduty",
        {"signing_secrets": ["pd-new-0c4e-5d81b3a2"]},
        {"X-PagerDuty-Signature": "v1=" + hex_hmac("pd-old-d1e9-4c7b20fa", PD_V3_BODY)},
        PD_V3_BODY,
        "no v1 signature",
    ),
    "pagerduty v3 tampered": (
        "pagerduty",
        {"signing_secrets": ["pd-new-0c4e-5d81b3a2"]},
        {"X-PagerDuty-Signature": "v1=" + hex_hmac("pd-new-0c4e-5d81b3a2", PD_V3_BODY)},
        tampered(PD_V3_BODY),
        "no v1 signature",
    ),
    "pagerduty v3 other scheme only": (
        "pagerduty",
        {"signing_secrets": ["pd-new-0c4e-5d81b3a2"]},
        {"X-PagerDuty-Signature": "v2=" + hex_hmac("pd-new-0c4e-5d81b3a2", PD_V3_BODY)},
        PD_V3_BODY,
        "no v1 signature",
    ),
    "pagerduty v3 unsigned": (
        "pagerduty",
        {"signing_secrets": ["pd-new-0c4e-5d81b3a2"]},
        {},
        PD_V3_BODY,
        "no routing_key",
    ),
    "pagerduty v3 but only routing keys": (
        "pagerduty",
        {"routing_keys": ["R0UTINGKEY-1-5f3c8a0d"]},
        {"X-PagerDuty-Signature": "v1=" + hex_hmac("pd-new-0c4e-5d81b3a2", PD_V3_BODY)},
        PD_V3_BODY,
        "no signing_secrets",
    ),
    # PagerDuty Events API v2 (also Kestra's PagerDuty tasks): the routing_key must match.
    "pagerduty events v2 ok": (
        "pagerduty",
        {"routing_keys": ["gsec-0ther-4a1e2d9c", "R0UTINGKEY-1-5f3c8a0d"]},
        {},
        PD_V2_BODY,
        None,
    ),
    "pagerduty events v2 wrong key": (
        "pagerduty",
        {"routing_keys": ["R0UTINGKEY-2-5f3c8a0d"]},
        {},
        PD_V2_BODY,
        "routing_key is not one",
    ),
    "pagerduty events v2 but only signing secrets": (
        "pagerduty",
        {"signing_secrets": ["pd-new-0c4e-5d81b3a2"]},
        {},
        PD_V2_BODY,
        "no routing_keys",
    ),
    # Datadog does not sign: a custom header secret or basic auth.
    "datadog header ok": (
        "datadog",
        {"header_secret": "dd-sec-3b7f-c61e08a4"},
        {"X-Healer-Token": "dd-sec-3b7f-c61e08a4"},
        DD_BODY,
        None,
    ),
    "datadog header wrong": (
        "datadog",
        {"header_secret": "dd-sec-3b7f-c61e08a4"},
        {"X-Healer-Token": "dd-sec-wrong"},
        DD_BODY,
        "X-Healer-Token",
    ),
    "datadog named header": (
        "datadog",
        {"header_name": "DD-Secret", "header_secret": "dd-sec-3b7f-c61e08a4"},
        {"dd-secret": "dd-sec-3b7f-c61e08a4"},
        DD_BODY,
        None,
    ),
    "datadog basic ok": (
        "datadog",
        {"basic_username": "ddog", "basic_password": "pw-4c1d-9e2a7f60b3"},
        {"Authorization": basic("ddog", "pw-4c1d-9e2a7f60b3")},
        DD_BODY,
        None,
    ),
    # Kestra's HTTP task does not sign: a bearer token.
    "kestra bearer ok": (
        "kestra",
        {"bearer_token": "kestra-tok-5e-2b8c91d0"},
        {"Authorization": "Bearer kestra-tok-5e-2b8c91d0"},
        KESTRA_BODY,
        None,
    ),
    "kestra bearer wrong": (
        "kestra",
        {"bearer_token": "kestra-tok-5e-2b8c91d0"},
        {"Authorization": "Bearer kestra-tok-xx"},
        KESTRA_BODY,
        "bearer",
    ),
    # EventBridge API destination: bearer or header secret.
    "eventbridge header ok": (
        "cloudwatch",
        {"header_name": "x-api-key", "header_secret": "eb-sec-8a2c-f09d3b57"},
        {"X-Api-Key": "eb-sec-8a2c-f09d3b57"},
        EVENTBRIDGE_BODY,
        None,
    ),
    "eventbridge header wrong": (
        "cloudwatch",
        {"header_name": "x-api-key", "header_secret": "eb-sec-8a2c-f09d3b57"},
        {"X-Api-Key": "eb-sec-wrong"},
        EVENTBRIDGE_BODY,
        "x-api-key",
    ),
    "eventbridge with only SNS configured": (
        "cloudwatch",
        {"topic_arns": ["arn:aws:sns:eu-west-1:123456789012:alarms"]},
        {},
        EVENTBRIDGE_BODY,
        "only SNS is configured",
    ),
}


def intake_for(kind: str, config: dict[str, Any], clock: FakeClock) -> AlertIntake:
    return AlertIntake(load_sources({"sources": {kind: config}}, loopback=False), fetch=RecordingFetcher(), clock=clock)


@pytest.mark.parametrize("name", list(ROWS))
def test_verification(name: str, clock: FakeClock) -> None:
    kind, config, headers, body, refusal = ROWS[name]
    intake = intake_for(kind, config, clock)
    if refusal is None:
        parsed = intake.receive(kind, headers, body)
        assert parsed.alerts and parsed.source_name == kind
    else:
        with pytest.raises(SourceUnauthorized) as caught:
            intake.receive(kind, headers, body)
        assert refusal in caught.value.message
        assert status_of(caught.value) == 401


SECRETS = [
    "tok-9f3a-81c2d4e6b7",
    "gsec-51b2-a7c40e9d",
    "csec-77ad-e3f1c9b8",
    "pd-new-0c4e-5d81b3a2",
    "pd-old-d1e9-4c7b20fa",
    "R0UTINGKEY-1-5f3c8a0d",
    "dd-sec-3b7f-c61e08a4",
    "eb-sec-8a2c-f09d3b57",
]


@pytest.mark.parametrize("name", [name for name, row in ROWS.items() if row[4] is not None])
def test_refusals_echo_no_secret_and_no_sent_credential(name: str, clock: FakeClock) -> None:
    kind, config, headers, body, _ = ROWS[name]
    with pytest.raises(SourceUnauthorized) as caught:
        intake_for(kind, config, clock).receive(kind, headers, body)
    sent = [value.split(" ", 1)[-1] for value in headers.values()]
    for secret in [*SECRETS, *sent]:
        assert secret not in caught.value.message


def test_verification_runs_on_raw_bytes_before_parsing(clock: FakeClock) -> None:
    # A body that is not even JSON is refused as unauthorized, not reported as invalid JSON.
    intake = intake_for("sentry", {"client_secret": "csec-77ad-e3f1c9b8"}, clock)
    with pytest.raises(SourceUnauthorized):
        intake.receive("sentry", {"Sentry-Hook-Signature": "00"}, b"not json")


HEADER_CASES: list[tuple[str, Callable[[str], dict[str, str]]]] = [
    ("lower", lambda sig: {"x-grafana-alerting-signature": sig}),
    ("title", lambda sig: {"X-Grafana-Alerting-Signature": sig}),
    ("upper", lambda sig: {"X-GRAFANA-ALERTING-SIGNATURE": sig.upper()}),
]


@pytest.mark.parametrize(("case", "make"), HEADER_CASES, ids=[case for case, _ in HEADER_CASES])
def test_header_names_and_hex_digits_in_any_case(
    case: str, make: Callable[[str], dict[str, str]], clock: FakeClock
) -> None:
    intake = intake_for("grafana", {"hmac_secret": "gsec-51b2-a7c40e9d"}, clock)
    assert intake.receive("grafana", make(hex_hmac("gsec-51b2-a7c40e9d", AM_BODY)), AM_BODY).alerts
