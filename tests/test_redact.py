"""Secrets are redacted from every text field before they are stored or shown."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from server.common.redact import hold_secrets, redact, redact_value

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
        # Issue 14, item 10: formats the first table missed.
        ("STRIPE_KEY sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc ok", "4eC39HqLyjWDarjtT1zdp7dc", "stripe-key"),
        ("stripe sk_test_" + "51H8abcDEFghiJKLmnop", "51H8abcDEFghiJKLmnop", "stripe-key"),
        ("restricted rk_live_" + "51H8abcDEFghiJKLmnopQ", "51H8abcDEFghiJKLmnopQ", "stripe-key"),
        ("openai sk-proj-" + "Ab3dEf6hIj9kLm2nOp5qRs8tUv_wXyZ-01", "Ab3dEf6hIj9kLm2nOp5qRs8t", "openai-key"),
        ("legacy sk-" + "Ab3dEf6hIj9kLm2nOp5qT3BlbkFJRs8tUv1w", "Ab3dEf6hIj9kLm2nOp5qT3BlbkFJ", "openai-key"),
        (
            "maps key=AIza" + "SyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q",
            "SyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q",
            "google-api-key",
        ),
        ("//registry.npmjs.org/:_authToken npm_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8", "a1B2c3D4e5F6", "npm-token"),
        ("slack xoxe-1-" + "My0xLTQ5MjAtMTExMS0xNjI5ODQ", "My0xLTQ5MjAtMTExMS0xNjI5ODQ", "slack-token"),  # refresh
        ("slack xoxc-" + "1234567890-abcdefghij-klmnop", "1234567890-abcdefghij", "slack-token"),  # client
        ("rotated xoxe.xoxp-1-" + "Mi0yLTM0MTQwNDI0MDAwNC0z", "Mi0yLTM0MTQwNDI0MDAwNC0z", "slack-token"),
        ("app xapp-1-A0123456789-" + "1234567890123-abcdef", "A0123456789-1234567890123", "slack-token"),
        ("short jwt eyJhbGciOiJub25lIn0.eyJhIjoxfQ.c2ln end", "eyJhIjoxfQ", "jwt"),  # parts under 8 chars
        ("unsigned eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9. end", "eyJzdWIiOiJhZG1pbiJ9", "jwt"),  # alg none
        ("cookie session=eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9", "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9", "jwt"),
        (
            "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjE\n-----END OPENSSH PRIVATE KEY-----",
            "b3BlbnNzaC1rZXktdjE",
            "private-key",
        ),
        (
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIFHDBOBgkqhkiG9w0\n-----END ENCRYPTED PRIVATE KEY-----",
            "MIIFHDBOBgkqhkiG9w0",
            "private-key",
        ),
        (
            "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nlQOYBGVn3xYBCADb\n-----END PGP PRIVATE KEY BLOCK-----",
            "lQOYBGVn3xYBCADb",
            "private-key",
        ),
        (
            "key.pem: -----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0B (cut)",
            "MIIEvQIBADANBgkqhkiG9w0B",
            "private-key",
        ),
        ("webhook whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "webhook-secret"),
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
        # Words near the new formats stay whole.
        "pip install scikit-learn; sk-learn is its old name",
        "task_test_results and desk_live_chat_enabled are flags",
        "the risk-assessment-for-quarter-three-2026 doc",
        "npm_config_cache=/tmp/npm npm install",
        "xoxo-hugs-and-kisses-from-the-team",
        "AIzawa is a surname, AIza alone is not a key",
        "commit 3f2a9c1e8b7d6a5f4e3d2c1b0a9f8e7d6c5b4a39 on main",
        "request id 550e8400-e29b-41d4-a716-446655440000 took 31 ms",
        "eyJ is how base64 of JSON starts",
        "BEGIN TRANSACTION; -- a private key lookup follows",
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


@pytest.fixture
def held() -> Iterator[None]:
    """The server's own secrets, as ``healer serve`` holds them at start; released after the test."""
    hold_secrets(["api-token-7f3c9a1e5b2d4c6e", "hook-secret-0a9b8c7d6e5f", "tiny"])
    yield
    hold_secrets([])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a secret of no known shape, repeated by a report or printed by a test, is replaced by value
        ("curl -H 'X-Token: api-token-7f3c9a1e5b2d4c6e'", "curl -H 'X-Token: [REDACTED:server-secret]'"),
        ("sig=hook-secret-0a9b8c7d6e5f;", "sig=[REDACTED:server-secret];"),
        # values under MIN_HELD_CHARS are not replaced: they would cut ordinary words apart
        ("a tiny change", "a tiny change"),
    ],
)
def test_the_servers_own_secrets_are_redacted_by_value(held: None, text: str, expected: str) -> None:
    assert redact(text) == expected


def test_held_secrets_reach_nested_values(held: None) -> None:
    assert redact_value({"detail": ["token api-token-7f3c9a1e5b2d4c6e"]}) == {
        "detail": ["token [REDACTED:server-secret]"]
    }
