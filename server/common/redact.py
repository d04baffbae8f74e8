"""Secret redaction: every text field is passed through ``redact`` before it is stored or shown."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

# Each rule: a name (shown in the placeholder, so a reader knows what was there) and a pattern.
# Where a pattern has a group named "secret", only that group is replaced and the rest kept,
# so "password=hunter2" reads "password=[REDACTED:password]".
_RULES: list[tuple[str, re.Pattern[str]]] = [
    (
        "private-key",
        re.compile(
            r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----.*?"
            r"(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|\Z)",
            re.DOTALL,
        ),
    ),
    ("github-token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{30,255}|github_pat_[A-Za-z0-9_]{30,255})\b")),
    ("aws-access-key-id", re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}\b")),
    (
        "aws-secret-access-key",
        re.compile(
            r"(?i)(?:aws_?secret_?access_?key|aws_?secret)[\"']?\s*[:=]\s*[\"']?(?P<secret>[A-Za-z0-9/+=]{30,})"
        ),
    ),
    # Slack: xoxb-, xoxp-, xoxe-, xoxc-... (any letter), rotating "xoxe.xoxp-" tokens and app-level "xapp-".
    # Real ones always carry digits, which spares words such as "xoxo-hugs-and-kisses".
    ("slack-token", re.compile(r"\b(?:xox[a-z](?:\.xox[a-z])?|xapp)-(?=[A-Za-z0-9-]*\d)[A-Za-z0-9-]{10,}")),
    ("slack-webhook", re.compile(r"https://hooks\.slack\.com/(?:services|workflows)/[A-Za-z0-9/_-]+")),
    ("stripe-key", re.compile(r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}")),
    ("openai-key", re.compile(r"\bsk-(?:(?:proj|svcacct|admin|ant)-[A-Za-z0-9_-]{20,}|[A-Za-z0-9]{32,})")),
    ("google-api-key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}")),
    ("npm-token", re.compile(r"\bnpm_[A-Za-z0-9]{36,}")),
    ("webhook-secret", re.compile(r"\bwhsec_[A-Za-z0-9+/=]{20,}")),
    # A JWT (or JWE) however short its parts, an unsigned one ending in ".", and a header alone:
    # base64url of JSON starts "eyJ" ('{"'), which ordinary words do not.
    ("jwt", re.compile(r"\beyJ[A-Za-z0-9_-]{6,}(?:\.[A-Za-z0-9_-]*){0,4}")),
    (
        "bearer-token",
        re.compile(r"(?i)\b(?:bearer|token)\s+(?P<secret>[A-Za-z0-9\-._~+/]{12,}=*)"),
    ),
    (
        "basic-auth",
        re.compile(r"(?i)\bauthorization\s*[:=]\s*basic\s+(?P<secret>[A-Za-z0-9+/]{8,}=*)"),
    ),
    # scheme://user:password@host keeps the user and host, hides the password.
    ("url-password", re.compile(r"(?i)\b[a-z][a-z0-9+.-]*://[^/\s:@]+:(?P<secret>[^@\s/]+)@")),
    (
        "password",
        re.compile(
            r"(?i)[\w.-]*(?:password|passwd|pwd|secret|api[_-]?key|access[_-]?token|auth[_-]?token|client[_-]?secret)"
            r"[\w.-]*[\"']?\s*[:=]\s*[\"']?(?!\[REDACTED)(?P<secret>[^\s\"',;&]{4,})"
        ),
    ),
]


def _replacer(name: str) -> Callable[[re.Match[str]], str]:
    def replace(match: re.Match[str]) -> str:
        placeholder = f"[REDACTED:{name}]"
        if "secret" in match.re.groupindex and match.group("secret") is not None:
            start, end = match.span("secret")
            base = match.start()
            text = match.group(0)
            return text[: start - base] + placeholder + text[end - base :]
        return placeholder

    return replace


_REPLACERS = [(pattern, _replacer(name)) for name, pattern in _RULES]

# Cheap pre-check: most log lines contain none of these words, and then no pattern can match.
# Plain substring tests on the lowered text cost a microsecond; one big regex costs fifty.
_HINTS = (
    "private key",
    "ghp_",
    "gho_",
    "ghu_",
    "ghs_",
    "ghr_",
    "github_pat_",
    "akia",
    "asia",
    "agpa",
    "aida",
    "aroa",
    "anpa",
    "anva",
    "aipa",
    "aws",
    "xox",
    "xapp-",
    "sk_live_",
    "sk_test_",
    "rk_live_",
    "rk_test_",
    # Not plain "sk-": "risk-", "disk-" and "task-" are everywhere in logs. Legacy OpenAI keys carry
    # "T3BlbkFJ" (base64 of "OpenAI"); one without it is caught where the line also says "api", "token" or "secret".
    "sk-proj-",
    "sk-svcacct-",
    "sk-admin-",
    "sk-ant-",
    "t3blbkfj",
    "aiza",
    "npm_",
    "whsec_",
    "hooks.slack",
    "eyj",
    "bearer",
    "token",
    "basic",
    "@",
    "passw",
    "pwd",
    "secret",
    "api",
)


#: Values shorter than this are not replaced by value: they would cut ordinary words apart
#: (and the configuration refuses secrets under 16 bytes anyway).
MIN_HELD_CHARS = 8

# The server's own secrets (API token, GitHub token, webhook, source and channel secrets), replaced
# wherever they appear, whatever they look like. Set once at start by ``hold_secrets``.
_held: tuple[str, ...] = ()


def hold_secrets(values: Iterable[str]) -> None:
    """From now on ``redact`` also replaces each of ``values`` (the server's own secrets) by value.

    Called once at start, with everything the server holds; a later call replaces the set.
    Longest first, so a secret that contains another is replaced whole.
    """
    global _held
    unique = {value for value in values if len(value) >= MIN_HELD_CHARS}
    _held = tuple(sorted(unique, key=len, reverse=True))


def redact(text: str) -> str:
    """``text`` with the server's own secrets and every secret it recognises replaced by ``[REDACTED:<kind>]``."""
    if not text:
        return text
    for secret in _held:
        if secret in text:
            text = text.replace(secret, "[REDACTED:server-secret]")
    lowered = text.lower()
    if not any(map(lowered.__contains__, _HINTS)):
        return text
    for pattern, replace in _REPLACERS:
        text = pattern.sub(replace, text)
    return text


# A key that names a credential: its string value is a secret whatever it looks like
# ({"password": "hunter22"} carries no pattern of its own).
_SECRET_KEY = re.compile(
    r"(?i)(?:password|passwd|pwd|secret|api[_-]?key|access[_-]?token|auth[_-]?token|client[_-]?secret"
    r"|private[_-]?key|credentials?)"
)


def redact_value(value: Any) -> Any:
    """Redact strings anywhere inside JSON-like data (dicts, lists, strings), and every string value
    whose key names a credential."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {
            key: "[REDACTED:password]"
            if isinstance(item, str) and item and isinstance(key, str) and _SECRET_KEY.search(key)
            else redact_value(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [redact_value(item) for item in value]
    return value
