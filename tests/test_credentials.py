"""Secrets in configuration: empty or short ones are refused at load, ``env:NAME`` works for sources as for channels."""

from __future__ import annotations

import base64
import hashlib
import hmac
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from server.commands.common import describe_settings_error
from server.common.settings import Settings
from server.config import parse_config
from server.errors import ConfigError
from server.held_secrets import server_secrets
from server.intake.sources import load_sources
from server.intake.sources.auth import HttpAuthConfig, http_auth_passes, sha256_signature_matches
from server.notify.config import load_notify
from tests.conftest import HEALER, healer_env

LONG = "a-random-secret-of-32-bytes-9c1e"


@pytest.mark.parametrize(
    ("kind", "table", "key"),
    [
        # issue 14, item 5: each of these counted as configured, so forged deliveries were accepted
        ("alertmanager", {"bearer_token": ""}, "bearer_token"),
        ("sentry", {"client_secret": ""}, "client_secret"),
        ("pagerduty", {"signing_secrets": [""]}, "signing_secrets.0"),
        ("pagerduty", {"signing_secrets": [LONG, "short-one"]}, "signing_secrets.1"),
        ("pagerduty", {"routing_keys": ["k"]}, "routing_keys.0"),
        ("kestra", {"basic_username": "kestra", "basic_password": ""}, "basic_password"),
        ("datadog", {"header_secret": "15-bytes-secret"}, "header_secret"),  # one byte short
        ("grafana", {"hmac_secret": " "}, "hmac_secret"),
        ("cloudwatch", {"bearer_token": "tok"}, "bearer_token"),
    ],
)
def test_an_empty_or_short_source_secret_is_refused_naming_the_key(kind: str, table: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_sources({"sources": {"edge": {"type": kind, **table}}}, loopback=False, file="/etc/healer.toml")
    message = raised.value.message
    assert message.startswith(f"/etc/healer.toml: sources.edge: {key}: the secret ")
    assert "at least 16 bytes" in message
    assert "short-one" not in message and "15-bytes-secret" not in message  # never the value


def test_a_secret_of_sixteen_bytes_is_enough() -> None:
    sources = load_sources({"sources": {"am": {"type": "alertmanager", "bearer_token": "x" * 16}}}, loopback=False)
    assert sources["am"].verification() == ["bearer token"]


@pytest.mark.parametrize(
    ("variable", "value", "said"),
    [
        ("HEALER_API_TOKEN", "", "is empty"),
        ("HEALER_API_TOKEN", "short-token", "is 11 bytes long"),
        ("HEALER_GITHUB_WEBHOOK_SECRET", "", "is empty"),
    ],
)
def test_an_empty_or_short_settings_secret_is_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, said: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError) as raised:
        Settings()
    assert describe_settings_error(raised.value).startswith(f"{variable}: the secret {said}")


def test_serve_refuses_to_start_with_an_empty_api_token(tmp_path: Path) -> None:
    # An empty token used to count as "no token": off loopback the server refused, but a typo'd
    # deployment variable went unnoticed. Now the variable itself is named.
    done = subprocess.run(
        [HEALER, "serve", "--host", "0.0.0.0"],
        env=healer_env(tmp_path, HEALER_API_TOKEN=""),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "HEALER_API_TOKEN: the secret is empty" in done.stderr


def webhook_channel(secret: str) -> dict[str, Any]:
    return {"notify": {"channels": {"audit": {"type": "webhook", "url": "https://audit.example/h", "secret": secret}}}}


@pytest.mark.parametrize(
    ("secret", "environ"),
    [
        ("whsec_" + base64.b64encode(b"8 bytes!").decode(), {}),  # in the file
        ("env:AUDIT_SECRET", {"AUDIT_SECRET": "whsec_" + base64.b64encode(b"short").decode()}),  # from the environment
    ],
)
def test_a_short_webhook_channel_secret_is_refused(secret: str, environ: dict[str, str]) -> None:
    with pytest.raises(ConfigError) as raised:
        load_notify(parse_config(webhook_channel(secret)), environ)
    assert "notify.channels.audit.secret" in raised.value.message
    assert "at least 16 bytes" in raised.value.message


SOURCES_FROM_ENV = """
[sources.am]
type = "alertmanager"
bearer_token = "env:HEALER_AM_TOKEN"

[sources.pd]
type = "pagerduty"
signing_secrets = ["env:HEALER_PD_OLD", "a-literal-secret-kept-as-is-77"]
"""


def test_source_secrets_are_read_from_the_environment() -> None:
    environ = {"HEALER_AM_TOKEN": LONG, "HEALER_PD_OLD": "pd-secret-from-the-environment"}
    sources = load_sources(tomllib.loads(SOURCES_FROM_ENV), loopback=False, environ=environ)
    am = sources["am"]
    assert isinstance(am, HttpAuthConfig)
    assert http_auth_passes({"authorization": f"Bearer {LONG}"}, am)
    assert not http_auth_passes({"authorization": "Bearer env:HEALER_AM_TOKEN"}, am)  # the name is no password
    pd = sources["pd"]
    assert [s.get_secret_value() for s in pd.signing_secrets] == [  # type: ignore[attr-defined]
        "pd-secret-from-the-environment",
        "a-literal-secret-kept-as-is-77",
    ]


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        # the variable is missing: the key and the variable are both named
        (
            {"HEALER_PD_OLD": LONG},
            "healer.toml: sources.am.bearer_token = 'env:HEALER_AM_TOKEN' but the environment variable "
            "HEALER_AM_TOKEN is not set",
        ),
        (
            {"HEALER_AM_TOKEN": LONG},
            "healer.toml: sources.pd.signing_secrets[0] = 'env:HEALER_PD_OLD' but the environment variable "
            "HEALER_PD_OLD is not set",
        ),
        # set but empty is missing too
        (
            {"HEALER_AM_TOKEN": "", "HEALER_PD_OLD": LONG},
            "healer.toml: sources.am.bearer_token = 'env:HEALER_AM_TOKEN' but the environment variable "
            "HEALER_AM_TOKEN is not set",
        ),
    ],
)
def test_a_missing_variable_stops_the_load(environ: dict[str, str], expected: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_sources(tomllib.loads(SOURCES_FROM_ENV), loopback=False, environ=environ)
    assert raised.value.message == expected


def test_a_secret_from_the_environment_gets_the_same_length_check() -> None:
    with pytest.raises(ConfigError, match=r"sources\.am: bearer_token: the secret is 5 bytes long"):
        load_sources(tomllib.loads(SOURCES_FROM_ENV), environ={"HEALER_AM_TOKEN": "short", "HEALER_PD_OLD": LONG})


def test_sources_and_channels_say_a_missing_variable_the_same_way() -> None:
    with pytest.raises(ConfigError) as channel:
        load_notify(parse_config(webhook_channel("env:HEALER_AUDIT")), {})
    with pytest.raises(ConfigError) as source:
        load_sources({"sources": {"am": {"type": "alertmanager", "bearer_token": "env:HEALER_AUDIT"}}}, environ={})
    assert channel.value.message.endswith("but the environment variable HEALER_AUDIT is not set")
    assert source.value.message.endswith("but the environment variable HEALER_AUDIT is not set")


def test_the_server_holds_every_secret_it_was_configured_with(tmp_path: Path) -> None:
    settings = Settings(
        home=tmp_path, api_token=SecretStr("api-token-" + "1" * 16), github_token=SecretStr("ghtok" * 4)
    )
    config = parse_config({**tomllib.loads(SOURCES_FROM_ENV), **webhook_channel("env:HEALER_AUDIT")})
    audit = "whsec_" + base64.b64encode(b"0123456789abcdef0123").decode()
    environ = {"HEALER_AM_TOKEN": LONG, "HEALER_PD_OLD": "pd-secret-from-the-environment", "HEALER_AUDIT": audit}
    held = server_secrets(settings, config, environ)
    for value in ("api-token-" + "1" * 16, "ghtok" * 4, LONG, "pd-secret-from-the-environment", audit):
        assert value in held
    assert "https://audit.example/h" in held  # a channel's URL is a credential (Slack's is)


SIGNING_KEY = "signing-secret-" + "s" * 16
SIGNED_BODY = b'{"repo": "calc"}'
SIGNED_HEX = hmac.new(SIGNING_KEY.encode(), SIGNED_BODY, hashlib.sha256).hexdigest()
ONE_DIGIT_OFF = SIGNED_HEX[:-1] + ("1" if SIGNED_HEX.endswith("0") else "0")


@pytest.mark.parametrize(
    ("header", "matches"),
    [
        (f"sha256={SIGNED_HEX}", True),  # GitHub's X-Hub-Signature-256 and our X-Healer-Signature-256
        (f" sha256={SIGNED_HEX} ", True),  # surrounding blanks are not part of the signature
        (f"sha256={SIGNED_HEX.upper()}", True),  # hex is hex, whatever its case
        (SIGNED_HEX, False),  # the algorithm prefix is required
        (f"sha1={SIGNED_HEX}", False),  # another algorithm
        (f"sha256={ONE_DIGIT_OFF}", False),  # one digit off
        ("sha256=", False),  # empty
        (None, False),  # no header at all
    ],
)
def test_one_sha256_signature_check_serves_both_webhooks(header: str | None, matches: bool) -> None:
    assert sha256_signature_matches(SecretStr(SIGNING_KEY), SIGNED_BODY, header) is matches
