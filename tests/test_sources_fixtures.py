"""Every real third-party alert payload, parsed as its monitor means it: one row per fixture file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from server.intake.sources import SOURCES, load_sources
from server.intake.sources.base import AlertStatus, ParsedDelivery

from .conftest import FIXTURES, SHARED_FIXTURES

LOCAL = FIXTURES / "alerts"
SHARED = SHARED_FIXTURES / "alerts"
SOURCE_OF_FOLDER = {
    "alertmanager": "alertmanager",
    "grafana": "grafana",
    "sentry": "sentry",
    "pagerduty": "pagerduty",
    "datadog": "datadog",
    "aws-cloudwatch": "cloudwatch",
}
MY_TOPIC = "arn:aws:sns:us-west-2:123456789012:MyTopic"

F, R, ACK, IGN = AlertStatus.firing, AlertStatus.resolved, AlertStatus.acknowledged, AlertStatus.ignored


NO_SHARED = (
    f"{SHARED} is not beside this checkout: the AWS documentation samples (CC-BY-SA-4.0) are read from there, "
    "not copied into tests/fixtures"
)
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason=NO_SHARED)


def fixture_file(relative: str) -> Path:
    """The copy under tests/fixtures, else (AWS documentation samples) the shared folder."""
    local = LOCAL / relative
    if local.exists():
        return local
    if not SHARED.is_dir():
        pytest.skip(NO_SHARED)
    return SHARED / relative


def parse_fixture(relative: str, config: dict[str, Any]) -> ParsedDelivery:
    kind = SOURCE_OF_FOLDER[relative.split("/")[0]]
    sources = load_sources({"sources": {kind: config}})
    body = json.loads(fixture_file(relative).read_bytes())
    return SOURCES[kind].parse(body, {}, sources[kind])


# (file, [sources.<type>] config, [(identity, status, service, severity) per alert], other expectations)
ROWS: list[tuple[str, dict[str, Any], list[tuple[str, AlertStatus, str, str]], dict[str, Any]]] = [
    # Hand-trimmed Alertmanager body: no per-alert status (the group's stands in), no fingerprint
    # (Alertmanager's label hash stands in), service from the `job` label, severity label "warning".
    # Its runbook is only in commonAnnotations: the group's annotations fill in the alert's.
    (
        "alertmanager/prom_post_request.json",
        {},
        [("b29784719d6a11e6", F, "docker_nodes", "medium")],
        {"links": {"runbook", "source"}},
    ),
    # Grafana 9 group saying "firing" with two resolved alerts and one firing: status is per alert.
    (
        "grafana/alert-9-mixed.json",
        {},
        [
            ("aaafafe0953f0962", R, "rabbitmq", "medium"),
            ("fb31814ac93dbe7d", R, "rabbitmq", "medium"),
            ("6f9cd313db421ef1", F, "unknown", "medium"),
        ],
        {"truncated": 0},
    ),
    # Grafana Cloud contact-point test: made-up TestAlert, and one more alert left out (truncated).
    (
        "grafana/alert_new.json",
        {},
        [("57c6d9296de2ad39", IGN, "unknown", "medium")],
        {"truncated": 1, "reason": "contact-point test"},
    ),
    # Legacy (Grafana 8) test notification: no alerts[], state "ok", rule id 0.
    ("grafana/alert_ok.json", {}, [("legacy:0:1:1:0", IGN, "unknown", "medium")], {"reason": "legacy test"}),
    # Grafana 11 alert with values; a static service from config wins over the (absent) labels.
    (
        "grafana/alert_values_v11.json",
        {"service": "node-memory"},
        [("e6349a25f5ef0e9e", F, "node-memory", "medium")],
        {"links": {"dashboard", "panel", "silence", "generator", "image", "source"}},
    ),
    # Integration-platform issue webhook: issue id is a string, service is the project slug.
    (
        "sentry/issue_created_for_exception.json",
        {},
        [("1635244907", F, "zulip-integration-testing", "high")],
        {"frames": []},
    ),
    # Alert-rule webhook without issue_id: the id comes out of issue_url; one Python frame.
    (
        "sentry/event_for_exception_python.json",
        {},
        [("1635244907", F, "zulip-integration-testing", "high")],
        {"frames": [("trigger-exception.py", 7, "<module>")]},
    ),
    # Legacy WebHooks plugin: the top-level id is the issue id, project_slug the service.
    (
        "sentry/webhook_event_for_exception_python.json",
        {},
        [("1972208801", F, "foo-live", "high")],
        {"frames": [("trigger-exception.py", 10, "<module>")]},
    ),
    # Sentry's built-in sample event (its test notification): ignored, frames still read from
    # the event's own stacktrace, in Sentry's order (most recent call last).
    (
        "sentry/sample_event_through_alert.json",
        {},
        [("4218258981", IGN, "python", "high")],
        {
            "frames": [
                ("raven/base.py", 303, "build_msg"),
                ("raven/base.py", 459, "capture"),
                ("raven/base.py", 577, "captureMessage"),
                ("raven/scripts/runner.py", 77, "send_test_message"),
                ("raven/scripts/runner.py", 112, "main"),
            ],
            "reason": "sample event",
        },
    ),
    # PagerDuty v3: incident id is the identity, event.id the delivery id, urgency high -> high.
    (
        "pagerduty/triggered_v3.json",
        {},
        [("PFQZPSY", F, "pig208", "high")],
        {"delivery_id": "01BZYIL05THJDFF2Y08X9SVMTU"},
    ),
    (
        "pagerduty/acknowledged_v3.json",
        {},
        [("PQ1K5C8", ACK, "pig208", "high")],
        {"delivery_id": "01BZYK8N47N5JG55J1EEEHPEJI"},
    ),
    (
        "pagerduty/resolved_v3.json",
        {},
        [("PCPZE64", R, "pig208", "high")],
        {"delivery_id": "01BZYH1JJY09P9LEIST8HG2PMN"},
    ),
    # Datadog's default payload for a monitor test: monitor id from the message's link, ignored.
    (
        "datadog/webhook-default-payload-test-notification.json",
        {},
        [("monitor:18692904", IGN, "unknown", "high")],
        {"delivery_id": "5485379890863845239", "reason": "test notification"},
    ),
    # CloudWatch alarm via SNS to Lambda: alarm ARN, service = alarm name (no service dimension).
    (
        "aws-cloudwatch/cloudwatch-alarm-sns-payload-single-metric.json",
        {},
        [("arn:aws:cloudwatch:REGION:ACCOUNT_NUMBER:alarm:EXAMPLE", F, "EXAMPLE", "high")],
        {"delivery_id": "95df01b4-ee98-5cb9-9903-4c221d41eb5e", "labels": {"InstanceId": "TestInstance"}},
    ),
    # Metric-math alarm: the dimension sits inside Trigger.Metrics[].MetricStat.
    (
        "aws-cloudwatch/cloudwatch-alarm-sns-payload-multiple-metrics.json",
        {"service_dimension": "InstanceId"},
        [("arn:aws:cloudwatch:REGION:ACCOUNT_NUMBER:alarm:EXAMPLE", F, "TestInstance", "high")],
        {},
    ),
    # EventBridge "CloudWatch Alarm State Change", OK -> ALARM.
    (
        "aws-cloudwatch/eventbridge-alarm-state-change-single-metric.json",
        {},
        [("arn:aws:cloudwatch:us-east-1:123456789012:alarm:ServerCpuTooHigh", F, "ServerCpuTooHigh", "high")],
        {"delivery_id": "c4c1c1c9-6542-e61b-6ef0-8c4d36933a92", "labels": {"InstanceId": "i-12345678901234567"}},
    ),
    (
        "aws-cloudwatch/eventbridge-alarm-state-change-metric-math.json",
        {"default_severity": "critical"},
        [
            (
                "arn:aws:cloudwatch:us-east-1:123456789012:alarm:TotalNetworkTrafficTooHigh",
                F,
                "TotalNetworkTrafficTooHigh",
                "critical",
            )
        ],
        {},
    ),
    (
        "aws-cloudwatch/eventbridge-alarm-state-change-anomaly-detection.json",
        {},
        [
            (
                "arn:aws:cloudwatch:us-east-1:123456789012:alarm:EC2 CPU Utilization Anomaly",
                F,
                "EC2 CPU Utilization Anomaly",
                "high",
            )
        ],
        {"links": {"source"}},
    ),
    # An SNS notification whose message is not an alarm ("Hello world!"): ignored, not refused.
    (
        "aws-cloudwatch/sns-http-notification.json",
        {},
        [("22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324", IGN, "unknown", "high")],
        {"reason": "not a CloudWatch alarm"},
    ),
    # A subscription confirmation for an allowed topic: no alert, an action to GET SubscribeURL.
    (
        "aws-cloudwatch/sns-http-subscription-confirmation.json",
        {"topic_arns": [MY_TOPIC]},
        [],
        {
            "action": "https://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription&TopicArn="
            f"{MY_TOPIC}&Token=2336412f37..."
        },
    ),
    # SNS confirming an unsubscribe: nothing to do, said as an ignored alert.
    (
        "aws-cloudwatch/sns-http-unsubscribe-confirmation.json",
        {"topic_arns": [MY_TOPIC]},
        [("47138184-6831-46b8-8f7c-afc488602d7d", IGN, "unknown", "high")],
        {"reason": "end of a subscription"},
    ),
]


@pytest.mark.parametrize(("relative", "config", "expected", "more"), ROWS, ids=[row[0] for row in ROWS])
def test_fixture_is_parsed_as_its_source_means_it(
    relative: str, config: dict[str, Any], expected: list[tuple[str, AlertStatus, str, str]], more: dict[str, Any]
) -> None:
    parsed = parse_fixture(relative, config)
    assert [(a.identity, a.status, a.service, a.severity.value) for a in parsed.alerts] == expected
    assert parsed.truncated == more.get("truncated", 0)
    if "delivery_id" in more:
        assert parsed.delivery_id == more["delivery_id"]
    if "frames" in more:
        frames = [(f.filename, f.lineno, f.function) for f in parsed.alerts[0].stack_frames]
        assert frames == more["frames"]
    if "reason" in more:
        assert all(more["reason"] in (alert.ignored_reason or "") for alert in parsed.alerts)
    else:
        assert all(alert.ignored_reason is None for alert in parsed.alerts)
    if "links" in more:
        assert set(parsed.alerts[0].links) == more["links"]
    for key, value in more.get("labels", {}).items():
        assert parsed.alerts[0].labels[key] == value
    assert (parsed.action.url if parsed.action else None) == more.get("action")
    assert parsed.raw == json.loads(fixture_file(relative).read_bytes())


@needs_shared
def test_every_shared_alert_fixture_has_a_row() -> None:
    shared = sorted(str(path.relative_to(SHARED)) for path in SHARED.glob("*/*.json"))
    assert shared, f"no alert fixtures under {SHARED}"
    assert sorted(row[0] for row in ROWS) == shared


@needs_shared
def test_copied_fixtures_are_byte_copies_of_the_shared_ones() -> None:
    for local in LOCAL.glob("*/*.json"):
        assert local.read_bytes() == (SHARED / local.relative_to(LOCAL)).read_bytes(), local


def test_each_alert_keeps_its_own_part_of_the_body() -> None:
    parsed = parse_fixture("grafana/alert-9-mixed.json", {})
    body = json.loads(fixture_file("grafana/alert-9-mixed.json").read_bytes())
    assert [alert.raw_alert for alert in parsed.alerts] == body["alerts"]
    assert parsed.alerts[1].ends_at is not None and parsed.alerts[2].ends_at is None  # Go's zero time


def test_sentry_frames_carry_the_source_line() -> None:
    parsed = parse_fixture("sentry/webhook_event_for_exception_python.json", {})
    frame = parsed.alerts[0].stack_frames[0]
    assert (frame.module, frame.in_app, frame.context_line) == (
        "__main__",
        False,
        '        raise ValueError("new sentry error.")',
    )
    assert parsed.alerts[0].error == "ValueError: new sentry error."
