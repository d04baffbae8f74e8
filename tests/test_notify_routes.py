"""[notify]: channel tables, secrets from the environment, and which channels hear which events."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from server.config import parse_config
from server.errors import ConfigError
from server.models import Severity, Status
from server.notify.config import NotifyConfig, load_notify
from server.notify.events import EventKind, NotificationEvent
from server.notify.routes import channels_for
from server.notify.slack import SlackConfig
from server.notify.webhook import WebhookConfig

ENV = {
    "HEALER_SLACK_ONCALL": "https://hooks.slack.com/services/T1/B1/oncall",
    "HEALER_AUDIT_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
}

CHANNELS: dict[str, Any] = {
    "oncall": {"type": "slack", "url": "env:HEALER_SLACK_ONCALL", "min_severity": "high"},
    "payments-team": {
        "type": "teams",
        "url": "https://prod-00.westus.logic.azure.com/workflows/abc",
        "services": ["payments"],
    },
    "audit": {
        "type": "webhook",
        "url": "https://audit.example.com/hooks/healer",
        "secret": "env:HEALER_AUDIT_SECRET",
        "events": ["merged", "verified", "dead_lettered"],
    },
}


def notify(tables: dict[str, Any], environ: dict[str, str] = ENV) -> NotifyConfig:
    return load_notify(parse_config({"notify": tables}), environ)


def event(kind: EventKind, service: str = "checkout", severity: Severity = Severity.high) -> NotificationEvent:
    return NotificationEvent(
        id="evt_1",
        kind=kind,
        incident_id="INC-20261122-0042",
        title="t",
        service=service,
        severity=severity,
        status=Status.pending,
        source="curl",
        occurred_at=datetime(2026, 11, 22, 9, 0, tzinfo=UTC),
    )


def test_channels_load_with_secrets_from_the_environment() -> None:
    config = notify({"channels": CHANNELS})
    oncall = config.channels["oncall"]
    audit = config.channels["audit"]
    assert isinstance(oncall, SlackConfig) and isinstance(audit, WebhookConfig)
    assert oncall.url.get_secret_value() == ENV["HEALER_SLACK_ONCALL"]
    assert audit.secret.get_secret_value() == ENV["HEALER_AUDIT_SECRET"]
    assert "hooks.slack.com" not in repr(config)


@pytest.mark.parametrize(
    ("kind", "severity", "service", "expected"),
    [
        # no [notify.routes]: each channel's own events (all by default), then its filters
        (EventKind.new_critical, Severity.critical, "checkout", ["oncall"]),
        (EventKind.new_critical, Severity.critical, "payments", ["oncall", "payments-team"]),
        (EventKind.merged, Severity.high, "payments", ["oncall", "payments-team", "audit"]),
        (EventKind.merged, Severity.medium, "checkout", ["audit"]),  # below oncall's min_severity
        (EventKind.approval_needed, Severity.medium, "search", []),
        (EventKind.dead_lettered, Severity.low, "payments", ["payments-team", "audit"]),
    ],
)
def test_channels_for_without_routes(kind: EventKind, severity: Severity, service: str, expected: list[str]) -> None:
    assert channels_for(event(kind, service, severity), notify({"channels": CHANNELS})) == expected


@pytest.mark.parametrize(
    ("kind", "severity", "extra", "expected"),
    [
        # [notify.routes] decides: kinds it lists go to the channels it names
        (EventKind.approval_needed, Severity.high, (), ["oncall"]),
        (EventKind.regressed, Severity.high, (), ["oncall", "audit"]),
        # a kind it does not list goes nowhere
        (EventKind.pr_opened, Severity.critical, (), []),
        # channel filters still apply
        (EventKind.approval_needed, Severity.low, (), []),
        # a routing rule's notify list adds channels
        (EventKind.pr_opened, Severity.critical, ("oncall", "no-such-channel"), ["oncall"]),
    ],
)
def test_channels_for_with_routes(
    kind: EventKind, severity: Severity, extra: tuple[str, ...], expected: list[str]
) -> None:
    config = notify({"channels": CHANNELS, "routes": {"approval_needed": ["oncall"], "regressed": ["audit", "oncall"]}})
    assert channels_for(event(kind, "checkout", severity), config, extra=extra) == expected


@pytest.mark.parametrize(
    ("tables", "environ", "key", "message"),
    [
        (
            {"channels": {"x": {"type": "pager", "url": "https://x"}}},
            ENV,
            "notify.channels.x",
            "does not match any of the expected tags",
        ),
        (
            {"channels": {"x": {"type": "slack", "url": "ftp://x"}}},
            ENV,
            "notify.channels.x.url",
            "expected an http(s) URL",
        ),
        (
            {"channels": {"x": {"type": "slack", "url": "https://x", "colour": "red"}}},
            ENV,
            "notify.channels.x.colour",
            "Extra inputs",
        ),
        (
            {"channels": {"x": {"type": "webhook", "url": "https://x"}}},
            ENV,
            "notify.channels.x.secret",
            "Field required",
        ),
        (
            {"channels": CHANNELS},
            {},
            "notify.channels.oncall.url",
            "the environment variable HEALER_SLACK_ONCALL is not set",
        ),
        (
            {"channels": CHANNELS, "routes": {"merged": ["audit", "pagerduty"]}},
            ENV,
            "notify.routes.merged[1]",
            "no channel named 'pagerduty'; channels: audit, oncall, payments-team",
        ),
        ({"channels": CHANNELS, "routes": {"deployed": ["audit"]}}, ENV, "notify.routes.deployed", "Input should be"),
        (
            {"channels": {"x": {"type": "webhook", "url": "https://x", "secret": "env:BAD"}}},
            {"BAD": "not-a-whsec-secret!"},
            "notify.channels.x.secret",
            "a webhook secret is 'whsec_' followed by base64",
        ),
    ],
)
def test_bad_notify_tables_are_config_errors(
    tables: dict[str, Any], environ: dict[str, str], key: str, message: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        notify(tables, environ)
    assert raised.value.key == key
    assert message in str(raised.value)
