"""What each source makes of the bodies it sends: 422s that name the JSON path, statuses, identities, ids."""

from __future__ import annotations

import json
from typing import Any

import pytest

from server.api.errors import status_of
from server.intake.sources import SOURCES, load_sources
from server.intake.sources.alertmanager import label_fingerprint
from server.intake.sources.base import AlertStatus, ParsedDelivery
from server.intake.sources.datadog import RECOMMENDED_PAYLOAD
from server.intake.sources.errors import PayloadInvalid
from server.intake.sources.intake import AlertIntake

from .conftest import FakeClock
from .sns_ca import RecordingFetcher

KESTRA_OK = {"namespace": "company.data", "flowId": "etl", "executionId": "4wjtkzwVGBM9yKnjm3yv8r", "error": "boom"}


def parse(kind: str, body: dict[str, Any], headers: dict[str, str] | None = None, **config: Any) -> ParsedDelivery:
    sources = load_sources({"sources": {kind: config}})
    return SOURCES[kind].parse(body, headers or {}, sources[kind])


# (source type, body, the exact 422 message). The path comes first, so a sender can find it.
INVALID: dict[str, tuple[str, dict[str, Any], str]] = {
    "am labels not an object": (
        "alertmanager",
        {"alerts": [{"labels": "severity=page"}]},
        "alerts[0].labels: expected an object, got a string",
    ),
    "am alerts missing": ("alertmanager", {"status": "firing"}, "alerts: missing"),
    "am label value not a string": (
        "alertmanager",
        {"alerts": [{"labels": {"a": "1"}}, {"labels": {"job": {"name": "x"}}}]},
        "alerts[1].labels.job: expected a string, got an object",
    ),
    "am unknown alert status": (
        "alertmanager",
        {"alerts": [{"labels": {}, "status": "pending"}]},
        "alerts[0].status: expected 'firing' or 'resolved', got a string",
    ),
    "am time not a time": (
        "alertmanager",
        {"alerts": [{"labels": {}, "startsAt": "yesterday"}]},
        "alerts[0].startsAt: expected an RFC 3339 time, got a string",
    ),
    "am truncatedAlerts not a number": (
        "alertmanager",
        {"alerts": [], "truncatedAlerts": "some"},
        "truncatedAlerts: expected an integer, got a string",
    ),
    "grafana neither shape": ("grafana", {"title": "x"}, "alerts: missing"),
    "grafana legacy unknown state": (
        "grafana",
        {"state": "exploded", "ruleId": 3},
        "state: expected 'alerting', 'ok', 'no_data', 'paused' or 'pending', got a string",
    ),
    "sentry no known shape": (
        "sentry",
        {"action": "created", "data": {}},
        "data: missing; a Sentry body has data.issue, data.event, data.error or data.metric_alert "
        "(legacy WebHooks plugin: id and event)",
    ),
    "sentry issue without id": (
        "sentry",
        {"action": "created", "data": {"issue": {"title": "x"}}},
        "data.issue.id: missing",
    ),
    "sentry event without issue id": (
        "sentry",
        {"action": "triggered", "data": {"event": {"title": "x", "web_url": "https://sentry.io/e/1/"}}},
        "data.event.issue_id: missing, and no /issues/<id>/ in issue_url or web_url",
    ),
    "sentry frame line not a number": (
        "sentry",
        {
            "action": "triggered",
            "data": {"event": {"issue_id": "1", "stacktrace": {"frames": [{"filename": "a.py", "lineno": "ten"}]}}},
        },
        "data.event.stacktrace.frames[0].lineno: expected an integer, got a string",
    ),
    "pagerduty neither shape": (
        "pagerduty",
        {"incident": {}},
        "event: missing; PagerDuty sends a v3 webhook {event: ...} or an Events API v2 event "
        "(routing_key, event_action, payload)",
    ),
    "pagerduty v3 without event type": ("pagerduty", {"event": {"id": "E1"}}, "event.event_type: missing"),
    "pagerduty v2 unknown action": (
        "pagerduty",
        {"routing_key": "k", "event_action": "explode"},
        "event_action: expected 'trigger', 'acknowledge' or 'resolve', got a string",
    ),
    "pagerduty v2 trigger without payload": (
        "pagerduty",
        {"routing_key": "k", "event_action": "trigger"},
        "payload: missing; a trigger event needs payload.summary",
    ),
    "pagerduty v2 resolve without key": (
        "pagerduty",
        {"routing_key": "k", "event_action": "resolve"},
        "dedup_key: missing; acknowledge and resolve events need the dedup_key of their trigger",
    ),
    "datadog without a title": (
        "datadog",
        {"id": "1", "body": "x"},
        "title: missing; a Datadog webhook body has a title ($EVENT_TITLE)",
    ),
    "datadog tags of the wrong shape": (
        "datadog",
        {"title": "[Triggered] x", "tags": {"env": "prod"}},
        "tags: expected a comma-separated string or an array of strings, got an object",
    ),
    "cloudwatch unknown shape": (
        "cloudwatch",
        {"AlarmName": "x"},
        "Type: missing; CloudWatch alarms arrive as an SNS envelope (Type, Message...), an EventBridge event "
        "(detail-type, detail) or a Lambda SNS event (Records)",
    ),
    "cloudwatch eventbridge unknown state": (
        "cloudwatch",
        {"detail-type": "CloudWatch Alarm State Change", "detail": {"alarmName": "a", "state": {"value": "BROKEN"}}},
        "detail.state.value: expected 'ALARM', 'OK' or 'INSUFFICIENT_DATA', got a string",
    ),
    "cloudwatch eventbridge other event": (
        "cloudwatch",
        {"detail-type": "EC2 Instance State-change Notification", "detail": {}},
        "detail-type: expected 'CloudWatch Alarm State Change', got 'EC2 Instance State-change Notification'",
    ),
    "cloudwatch alarm inside SNS without state": (
        "cloudwatch",
        {"Type": "Notification", "MessageId": "m", "TopicArn": "t", "Message": json.dumps({"AlarmName": "a"})},
        "Message.NewStateValue: missing",
    ),
    "cloudwatch alarm inside a Lambda record": (
        "cloudwatch",
        {
            "Records": [
                {"Sns": {"Type": "Notification", "MessageId": "m", "TopicArn": "t", "Message": '{"AlarmName": 1}'}}
            ]
        },
        "Records[0].Sns.Message.NewStateValue: missing",
    ),
    "kestra missing namespace": ("kestra", {"flowId": "f", "executionId": "e", "error": "x"}, "namespace: missing"),
    "kestra unknown key": ("kestra", {**KESTRA_OK, "colour": "red"}, "colour: unknown key"),
    "kestra unknown severity": (
        "kestra",
        {**KESTRA_OK, "severity": "urgent"},
        "severity: expected one of critical, crit, fatal, emergency, p1, sev1, high, error, major, p2, sev2, medium, "
        "warning, warn, moderate, p3, sev3, low, info, minor, debug, p4, p5, sev4",
    ),
    "kestra says nothing": (
        "kestra",
        {"namespace": "n", "flowId": "f", "executionId": "e"},
        "error: missing; say what happened in error, log or title",
    ),
}


@pytest.mark.parametrize("name", list(INVALID))
def test_invalid_body_names_the_json_path(name: str) -> None:
    kind, body, message = INVALID[name]
    with pytest.raises(PayloadInvalid) as caught:
        parse(kind, body)
    assert caught.value.message == f"{message} ({kind} webhook body)"
    assert status_of(caught.value) == 422
    assert caught.value.field == caught.value.path and message.startswith(caught.value.path + ":")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"[1, 2]", "$: expected a JSON object, got an array"),
        (b'{"alerts": [', "$: not valid JSON (EOF while parsing a list at line 1 column 12)"),
        (b'{"alerts": "\xff"}', "$: not valid JSON (invalid unicode code point at line 1 column 13)"),
    ],
)
def test_body_that_is_not_a_json_object(body: bytes, message: str, clock: FakeClock) -> None:
    intake = AlertIntake(load_sources({}), fetch=RecordingFetcher(), clock=clock)
    with pytest.raises(PayloadInvalid) as caught:
        intake.receive("alertmanager", {}, body)
    assert caught.value.message == f"{message} (alertmanager webhook body)"


def test_alertmanager_fingerprint_matches_alertmanagers_own() -> None:
    # Grafana computed 57c6d9296de2ad39 for exactly these labels (fixture grafana/alert_new.json).
    assert label_fingerprint({"alertname": "TestAlert", "instance": "Grafana"}) == "57c6d9296de2ad39"
    assert label_fingerprint({}) == "cbf29ce484222325"  # FNV-1a's offset basis: the empty label set
    body = {"alerts": [{"labels": {"instance": "Grafana", "alertname": "TestAlert"}}]}
    assert parse("alertmanager", body).alerts[0].identity == "57c6d9296de2ad39"


@pytest.mark.parametrize(
    ("config", "labels", "service", "severity"),
    [
        ({}, {"service": "api", "job": "node", "severity": "critical"}, "api", "critical"),  # service before job
        ({}, {"app": "web", "job": "node", "severity": "page"}, "web", "critical"),  # app before job
        ({"service_label": "team"}, {"team": "payments", "service": "api"}, "payments", "medium"),
        ({"service_label": "team"}, {"service": "api"}, "api", "medium"),  # falls back to the usual labels
        ({"service": "static"}, {"service": "api"}, "static", "medium"),  # a static service wins
        ({"severity_label": "level"}, {"level": "warning", "severity": "critical"}, "unknown", "medium"),
        ({"default_severity": "low"}, {"severity": "whatever"}, "unknown", "low"),
        ({"severity_levels": {"Whatever": "high"}}, {"severity": "whatever"}, "unknown", "high"),
    ],
)
def test_labelled_alert_service_and_severity(
    config: dict[str, Any], labels: dict[str, str], service: str, severity: str
) -> None:
    alert = parse("alertmanager", {"alerts": [{"labels": labels}]}, **config).alerts[0]
    assert (alert.service, alert.severity.value) == (service, severity)


def test_group_status_does_not_decide_for_alerts_that_carry_their_own() -> None:
    body = {
        "status": "resolved",
        "truncatedAlerts": 2,
        "alerts": [
            {"status": "firing", "labels": {"alertname": "a"}},
            {"status": "resolved", "labels": {"alertname": "b"}},
            {"labels": {"alertname": "c"}},
        ],
    }
    parsed = parse("alertmanager", body)
    assert [alert.status for alert in parsed.alerts] == [AlertStatus.firing, AlertStatus.resolved, AlertStatus.resolved]
    assert parsed.truncated == 2


PD_V3 = {
    "event": {
        "id": "01EVENT",
        "event_type": "incident.annotated",
        "occurred_at": "2026-11-22T08:00:00Z",
        "data": {
            "type": "incident_note",
            "content": "looking",
            "incident": {"id": "PINC1", "html_url": "https://x.pagerduty.com/incidents/PINC1"},
        },
    }
}


@pytest.mark.parametrize(
    ("event_type", "data", "identity", "status"),
    [
        ("incident.triggered", {"id": "P1", "type": "incident", "urgency": "low"}, "P1", AlertStatus.firing),
        ("incident.reopened", {"id": "P1", "type": "incident"}, "P1", AlertStatus.firing),
        ("incident.unacknowledged", {"id": "P1", "type": "incident"}, "P1", AlertStatus.firing),
        ("incident.acknowledged", {"id": "P1", "type": "incident"}, "P1", AlertStatus.acknowledged),
        ("incident.resolved", {"id": "P1", "type": "incident"}, "P1", AlertStatus.resolved),
        ("incident.escalated", {"id": "P1", "type": "incident"}, "P1", AlertStatus.ignored),
        ("incident.annotated", PD_V3["event"]["data"], "PINC1", AlertStatus.ignored),  # type: ignore[index]
        ("pagey.ping", {"type": "ping", "message": "Hello from your friend Pagey!"}, "01EVENT", AlertStatus.ignored),
    ],
)
def test_pagerduty_v3_event_types(event_type: str, data: dict[str, Any], identity: str, status: AlertStatus) -> None:
    body = {"event": {"id": "01EVENT", "event_type": event_type, "data": data}}
    parsed = parse("pagerduty", body)
    assert [(alert.identity, alert.status) for alert in parsed.alerts] == [(identity, status)]
    assert parsed.delivery_id == "01EVENT"


@pytest.mark.parametrize(
    ("priority", "urgency", "severity"),
    [("P1", "low", "critical"), (None, "low", "low"), (None, "high", "high"), ("P3", "high", "medium")],
)
def test_pagerduty_priority_before_urgency(priority: str | None, urgency: str, severity: str) -> None:
    data = {"id": "P1", "type": "incident", "urgency": urgency, "priority": {"summary": priority} if priority else None}
    body = {"event": {"id": "E", "event_type": "incident.triggered", "data": data}}
    assert parse("pagerduty", body).alerts[0].severity.value == severity


def test_pagerduty_events_v2_trigger_acknowledge_resolve_share_the_dedup_key() -> None:
    trigger = {
        "routing_key": "k",
        "event_action": "trigger",
        "dedup_key": "kestra-company.data-etl",
        "payload": {
            "summary": "Kestra execution failed",
            "source": "kestra",
            "severity": "error",
            "component": "etl",
            "custom_details": {"service": "billing", "executionId": "4wj"},
        },
        "client_url": "https://kestra.example.com/ui/executions/company.data/etl/4wj",
    }
    alerts = [
        parse("pagerduty", trigger).alerts[0],
        parse(
            "pagerduty", {"routing_key": "k", "event_action": "acknowledge", "dedup_key": trigger["dedup_key"]}
        ).alerts[0],
        parse("pagerduty", {"routing_key": "k", "event_action": "resolve", "dedup_key": trigger["dedup_key"]}).alerts[
            0
        ],
    ]
    assert [(a.identity, a.status) for a in alerts] == [
        ("kestra-company.data-etl", AlertStatus.firing),
        ("kestra-company.data-etl", AlertStatus.acknowledged),
        ("kestra-company.data-etl", AlertStatus.resolved),
    ]
    first = alerts[0]
    assert (first.service, first.severity.value, first.links["source"]) == ("billing", "high", trigger["client_url"])
    assert json.loads(first.description or "") == {"service": "billing", "executionId": "4wj"}


def test_pagerduty_events_v2_trigger_without_key_is_stable() -> None:
    body = {"routing_key": "k", "event_action": "trigger", "payload": {"summary": "disk full", "source": "db-1"}}
    first, second = parse("pagerduty", body).alerts[0], parse("pagerduty", dict(body)).alerts[0]
    assert first.identity == second.identity and first.identity.startswith("summary:")
    assert first.service == "db-1"


SENTRY_ISSUE = {
    "data": {"issue": {"id": "77", "title": "KeyError: 'user'", "level": "warning", "project": {"slug": "web"}}}
}


@pytest.mark.parametrize(
    ("action", "status"),
    [
        ("created", AlertStatus.firing),
        ("unresolved", AlertStatus.firing),
        ("resolved", AlertStatus.resolved),
        ("archived", AlertStatus.ignored),
        ("assigned", AlertStatus.ignored),
    ],
)
def test_sentry_issue_actions(action: str, status: AlertStatus) -> None:
    headers = {"sentry-hook-resource": "issue", "request-id": "req-1"}
    parsed = parse("sentry", {"action": action, **SENTRY_ISSUE}, headers)
    alert = parsed.alerts[0]
    assert (alert.identity, alert.status, alert.service, alert.severity.value) == ("77", status, "web", "medium")
    assert parsed.delivery_id == "req-1"


@pytest.mark.parametrize(
    ("action", "status", "severity"),
    [
        ("critical", AlertStatus.firing, "critical"),
        ("warning", AlertStatus.firing, "medium"),
        ("resolved", AlertStatus.resolved, "high"),
    ],
)
def test_sentry_metric_alert(action: str, status: AlertStatus, severity: str) -> None:
    body = {
        "action": action,
        "data": {
            "metric_alert": {"id": "9001", "projects": ["checkout"]},
            "description_title": "p95 latency above 2s",
            "web_url": "https://sentry.io/organizations/acme/alerts/rules/details/12/",
        },
    }
    alert = parse("sentry", body, {"sentry-hook-resource": "metric_alert"}).alerts[0]
    assert (alert.identity, alert.status, alert.severity.value, alert.service) == (
        "metric-alert:9001",
        status,
        severity,
        "checkout",
    )


def test_sentry_resource_without_alert_is_ignored() -> None:
    body = {"action": "created", "data": {"installation": {"uuid": "u"}}}
    alert = parse("sentry", body, {"sentry-hook-resource": "installation"}).alerts[0]
    assert (alert.status, alert.ignored_reason) == (
        AlertStatus.ignored,
        "a Sentry 'installation' webhook carries no alert",
    )


def test_sentry_chained_exception_uses_the_last_one_with_frames() -> None:
    event = {
        "issue_id": "5",
        "exception": {
            "values": [
                {
                    "type": "KeyError",
                    "value": "'id'",
                    "stacktrace": {"frames": [{"filename": "app/db.py", "lineno": 3}]},
                },
                {
                    "type": "RuntimeError",
                    "value": "lookup failed",
                    "stacktrace": {"frames": [{"abs_path": "/srv/app/api.py", "lineno": 9, "function": "get"}]},
                },
            ]
        },
    }
    alert = parse("sentry", {"action": "triggered", "data": {"event": event}}).alerts[0]
    assert alert.error == "RuntimeError: lookup failed"
    assert [(f.filename, f.lineno, f.function) for f in alert.stack_frames] == [("/srv/app/api.py", 9, "get")]


def render_datadog(values: dict[str, str]) -> dict[str, Any]:
    """The recommended template as Datadog fills it in: each $VARIABLE replaced, JSON-escaped."""
    text = RECOMMENDED_PAYLOAD
    for name in sorted(values, key=len, reverse=True):
        text = text.replace(f"${name}", json.dumps(values[name])[1:-1])
    assert "$" not in text, "the template uses a variable this test does not fill"
    return json.loads(text)


DATADOG_VALUES = {
    "ID": "7102350929421035474",
    "ALERT_CYCLE_KEY": "7102350929421035473",
    "ALERT_ID": "18692904",
    "ALERT_TRANSITION": "Triggered",
    "ALERT_TYPE": "error",
    "ALERT_PRIORITY": "P2",
    "ALERT_TITLE": "[Triggered on {service:checkout}] Error rate high",
    "ALERT_STATUS": 'sum:trace.http.request.errors{service:checkout} > 5 "at least once"',
    "ALERT_METRIC": "trace.http.request.errors",
    "ALERT_QUERY": "sum(last_5m):sum:trace.http.request.errors{service:checkout} > 5",
    "ALERT_SCOPE": "service:checkout,env:prod",
    "AGGREG_KEY": "9bd4ac313a4d1e8fae2482df7b77628",
    "PRIORITY": "normal",
    "EVENT_TITLE": "[P2] [Triggered on {service:checkout}] Error rate high",
    "EVENT_MSG": "%%%\nErrors above 5 for checkout.\n\n[Monitor Status](https://app.datadoghq.eu/monitors#18692904)\n%%%",
    "EVENT_TYPE": "query_alert_monitor",
    "DATE": "1795338000000",
    "LAST_UPDATED": "1795338000000",
    "HOSTNAME": "",
    "LINK": "https://app.datadoghq.eu/event/event?id=7102350929421035474",
    "SNAPSHOT": "",
    "TAGS": "env:prod,service:checkout,team:payments",
    "ORG_ID": "415600",
    "ORG_NAME": "Acme",
}


@pytest.mark.parametrize(
    ("transition", "status", "severity"),
    [
        ("Triggered", AlertStatus.firing, "high"),
        ("Re-Triggered", AlertStatus.firing, "high"),
        ("Recovered", AlertStatus.resolved, "high"),
        ("No Data", AlertStatus.firing, "high"),
    ],
)
def test_datadog_recommended_payload(transition: str, status: AlertStatus, severity: str) -> None:
    values = {**DATADOG_VALUES, "ALERT_TRANSITION": transition}
    parsed = parse("datadog", render_datadog(values))
    alert = parsed.alerts[0]
    assert (alert.identity, alert.status, alert.service, alert.severity.value) == (
        "7102350929421035473",
        status,
        "checkout",
        severity,
    )
    assert parsed.delivery_id == "7102350929421035474"
    assert alert.labels["team"] == "payments" and alert.labels["monitor_id"] == "18692904"
    assert alert.links == {"source": "https://app.datadoghq.eu/event/event?id=7102350929421035474"}
    assert alert.error == DATADOG_VALUES["ALERT_STATUS"]


@pytest.mark.parametrize(
    ("title", "changes", "status", "severity"),
    [
        ("[Triggered] CPU high", {}, AlertStatus.firing, "high"),
        ("[P1] [Triggered on {host:a}] CPU high", {}, AlertStatus.firing, "critical"),
        ("[Warn] CPU high", {}, AlertStatus.firing, "medium"),
        ("[Recovered] CPU high", {}, AlertStatus.resolved, "high"),
        ("[Triggered] [TEST] CPU high", {}, AlertStatus.ignored, "high"),
        ("CPU high", {"alert_transition": "Recovered", "alert_priority": "P4"}, AlertStatus.resolved, "low"),
        ("CPU high", {"alert_type": "warning", "alert_priority": ""}, AlertStatus.firing, "medium"),
    ],
)
def test_datadog_status_and_severity_from_what_the_body_has(
    title: str, changes: dict[str, str], status: AlertStatus, severity: str
) -> None:
    alert = parse("datadog", {"id": "1", "title": title, **changes}).alerts[0]
    assert (alert.status, alert.severity.value) == (status, severity)


@pytest.mark.parametrize(
    ("kind", "config", "headers", "body", "delivery_id"),
    [
        ("kestra", {}, {}, KESTRA_OK, "4wjtkzwVGBM9yKnjm3yv8r"),  # the execution id by default
        ("kestra", {}, {"Idempotency-Key": "retry-7"}, KESTRA_OK, "retry-7"),  # the header, when sent
        ("alertmanager", {}, {}, {"alerts": []}, None),  # Alertmanager sends no delivery id
        ("grafana", {}, {"X-Webhook-Id": "w-1"}, {"alerts": []}, "w-1"),
        ("alertmanager", {"delivery_id_header": "X-Request-Id"}, {"x-request-id": "r-9"}, {"alerts": []}, "r-9"),
    ],
)
def test_delivery_ids(
    kind: str,
    config: dict[str, Any],
    headers: dict[str, str],
    body: dict[str, Any],
    delivery_id: str | None,
    clock: FakeClock,
) -> None:
    intake = AlertIntake(load_sources({"sources": {kind: config}}), fetch=RecordingFetcher(), clock=clock)
    assert intake.receive(kind, headers, json.dumps(body).encode()).delivery_id == delivery_id


def test_kestra_contract_fields() -> None:
    body = {
        **KESTRA_OK,
        "taskId": "load",
        "severity": "P1",
        "service": "billing",
        "log": "line 1\nline 2",
        "link": "https://kestra.example.com/ui/executions/company.data/etl/4wjtkzwVGBM9yKnjm3yv8r",
        "labels": {"team": "data"},
    }
    alert = parse("kestra", body).alerts[0]
    assert (alert.identity, alert.status, alert.service, alert.severity.value, alert.title) == (
        "company.data.etl.load",
        AlertStatus.firing,
        "billing",
        "critical",
        "Kestra flow company.data.etl failed at task load",
    )
    assert (alert.error, alert.log, alert.links["source"]) == ("boom", "line 1\nline 2", body["link"])
    assert alert.labels == {
        "team": "data",
        "namespace": "company.data",
        "flow_id": "etl",
        "execution_id": "4wjtkzwVGBM9yKnjm3yv8r",
        "task_id": "load",
    }
    resolved = parse("kestra", {**KESTRA_OK, "status": "resolved"}).alerts[0]
    assert (resolved.identity, resolved.status, resolved.service) == (
        "company.data.etl",
        AlertStatus.resolved,
        "company.data",
    )


def test_sentry_keeps_the_innermost_frames_of_a_deep_stack() -> None:
    frames = [{"filename": f"app/f{n}.py", "lineno": n} for n in range(250)]
    event = {"issue_id": "8", "stacktrace": {"frames": frames}}
    alert = parse("sentry", {"action": "triggered", "data": {"event": event}}).alerts[0]
    assert len(alert.stack_frames) == 200
    assert (alert.stack_frames[0].filename, alert.stack_frames[-1].filename) == ("app/f50.py", "app/f249.py")
