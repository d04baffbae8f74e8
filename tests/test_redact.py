"""Secrets are redacted from every text field before they are stored or shown."""

from __future__ import annotations

import pytest

from server.redact import redact, redact_value

GH = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"


@pytest.mark.parametrize(
    ("text", "secret", "kind"),
    [
        (f"push failed with token {GH}", GH, "github-token"),  # classic PAT
        ("github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz0123", "github_pat_11ABCDEFG", "github-token"),
        ("key AKIAIOSFODNN7EXAMPLE in env", "AKIAIOSFODNN7EXAMPLE", "aws-access-key-id"),
        (
            "aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY0",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY0",
            "aws-secret-access-key",
        ),
        ("slack xoxb-123456789012-abcdefABCDEF1234", "xoxb-123456789012", "slack-token"),
        ("POST https://hooks.slack.com/services/T000/B000/XXXXXXXX failed", "T000/B000/XXXXXXXX", "slack-webhook"),
        ("Authorization: Bearer abcdef0123456789abcdef", "abcdef0123456789abcdef", "bearer-token"),
        ("connect postgres://app:s3cr3tpw@db:5432/app", "s3cr3tpw", "url-password"),
        ("DB_PASSWORD=hunter22 start", "hunter22", "password"),
        (
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\nabc\n-----END RSA PRIVATE KEY-----",
            "MIIEow",
            "private-key",
        ),
        (
            "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV",
            "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV",
            "jwt",
        ),
    ],
)
def test_secret_is_replaced_by_a_labelled_placeholder(text: str, secret: str, kind: str) -> None:
    out = redact(text)
    assert secret not in out
    assert f"[REDACTED:{kind}]" in out


@pytest.mark.parametrize(
    "text",
    [
        "ERROR connection pool exhausted after 30s (pool_size=5)",  # nothing secret: unchanged
        'Traceback (most recent call last):\n  File "app/db.py", line 3, in connect',
        "user admin logged in from 10.0.0.1",
    ],
)
def test_ordinary_text_is_unchanged(text: str) -> None:
    assert redact(text) == text


def test_url_keeps_user_and_host() -> None:
    assert redact("postgres://app:pw1234@db:5432/x") == "postgres://app:[REDACTED:url-password]@db:5432/x"


def test_nested_values_are_redacted() -> None:
    data = {"labels": {"token": f"bearer {GH}"}, "list": [f"x {GH}"], "n": 3}
    out = redact_value(data)
    assert GH not in str(out) and out["n"] == 3


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        # a key that names a credential hides its value, however plain the value looks
        ({"password": "hunter22"}, {"password": "[REDACTED:password]"}),
        ({"db": {"api_key": "abcd1234", "host": "db1"}}, {"db": {"api_key": "[REDACTED:password]", "host": "db1"}}),
        ({"labels": [{"client_secret": "s3"}]}, {"labels": [{"client_secret": "[REDACTED:password]"}]}),
        # other keys, and values that are not text, are kept
        ({"service": "payments", "secret_count": 3}, {"service": "payments", "secret_count": 3}),
    ],
)
def test_values_under_credential_keys_are_redacted(data: dict, expected: dict) -> None:
    assert redact_value(data) == expected
