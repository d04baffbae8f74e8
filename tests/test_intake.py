"""Intake: the two seed shapes, severity words, fingerprints, stack traces, and the 422 cases."""

from __future__ import annotations

import pytest

from server.config import HealerConfig, parse_config
from server.errors import InvalidInput
from server.intake.reports import fingerprint, normalize, parse_severity, trace_id_from_traceparent
from server.models import IncidentIn, Severity

PY_TRACE = """Traceback (most recent call last):
  File "/srv/app/api.py", line 5, in handler
    return connect()
  File "/srv/app/db.py", line 41, in connect
    raise RuntimeError('pool exhausted')
RuntimeError: pool exhausted"""


def config() -> HealerConfig:
    return parse_config({"repos": {"payments": {"path": "/srv/payments", "services": ["payments-api"]}}})


def test_service_error_severity_shape() -> None:
    new = normalize(IncidentIn(service="payments-api", error="pool exhausted", severity="critical"), config())
    assert (new.service, new.title, new.error, new.severity, new.repo) == (
        "payments-api",
        "pool exhausted",
        "pool exhausted",
        Severity.critical,
        "payments",  # resolved through the service map
    )


def test_log_source_shape_derives_error_title_frames_and_severity() -> None:
    new = normalize(IncidentIn(log="2026-11-22 ERROR request failed\n" + PY_TRACE, source="fluent-bit"), config())
    assert new.source == "fluent-bit"
    assert new.error == "RuntimeError: pool exhausted"
    assert new.severity == Severity.high
    assert [(f.filename, f.lineno, f.function) for f in new.stack_frames] == [
        ("/srv/app/api.py", 5, "handler"),
        ("/srv/app/db.py", 41, "connect"),
    ]
    assert new.stack_frames[1].context_line == "raise RuntimeError('pool exhausted')"


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("CRITICAL", Severity.critical),
        ("p1", Severity.critical),
        ("error", Severity.high),
        ("warning", Severity.medium),
        ("info", Severity.low),
        ("sev4", Severity.low),
    ],
)
def test_severity_words(word: str, expected: Severity) -> None:
    assert parse_severity(word) == expected


def test_unknown_severity_lists_the_accepted_words() -> None:
    with pytest.raises(InvalidInput, match="use critical, high, medium or low") as caught:
        parse_severity("urgent-ish")
    assert caught.value.field == "severity"


def test_nothing_said_is_refused() -> None:
    with pytest.raises(InvalidInput, match="at least one of `error`, `log` or `title`"):
        normalize(IncidentIn(service="x"), config())


def test_unknown_repo_is_refused_with_the_configured_names() -> None:
    with pytest.raises(InvalidInput, match="configured repositories: payments"):
        normalize(IncidentIn(service="x", error="e", repo="nope"), config())


GITHUB_TOKEN = "ghp_" + "Z" * 36
AWS_KEY_ID = "AKIA" + "Q" * 16  # fits trace_id's pattern, which a GitHub token (with its `_`) does not


@pytest.mark.parametrize(
    ("fields", "secret"),
    [
        ({"service": f"svc-{GITHUB_TOKEN}"}, GITHUB_TOKEN),
        ({"error": f"auth {GITHUB_TOKEN}"}, GITHUB_TOKEN),
        ({"log": f"tok={GITHUB_TOKEN}"}, GITHUB_TOKEN),
        ({"source": f"curl {GITHUB_TOKEN}"}, GITHUB_TOKEN),
        ({"title": f"t {GITHUB_TOKEN}"}, GITHUB_TOKEN),
        ({"labels": {"k": GITHUB_TOKEN}}, GITHUB_TOKEN),  # a label value
        ({"labels": {GITHUB_TOKEN: "v"}}, GITHUB_TOKEN),  # a label key
        ({"labels": {"service": GITHUB_TOKEN}}, GITHUB_TOKEN),  # a label that becomes the service
        ({"fingerprint": GITHUB_TOKEN}, GITHUB_TOKEN),  # stored only as a hash
        ({"suggested_fix": GITHUB_TOKEN}, GITHUB_TOKEN),
        ({"affected_file": f"app/{GITHUB_TOKEN}.py"}, GITHUB_TOKEN),
        ({"trace_id": AWS_KEY_ID}, AWS_KEY_ID),
        ({"stack_trace": f'File "/a/{GITHUB_TOKEN}.py", line 1, in f'}, GITHUB_TOKEN),  # trace text
        (
            {
                "stack_trace": [
                    {
                        "filename": f"/a/{GITHUB_TOKEN}.py",
                        "function": GITHUB_TOKEN,
                        "module": f"m.{GITHUB_TOKEN}",
                        "context_line": f"token = '{GITHUB_TOKEN}'",
                        "repo_path": f"a/{GITHUB_TOKEN}.py",
                    }
                ]
            },
            GITHUB_TOKEN,
        ),  # every text field of a posted frame
    ],
)
def test_secrets_are_redacted_in_every_field(fields: dict[str, object], secret: str) -> None:
    new = normalize(IncidentIn.model_validate({"error": "e", **fields}), config())
    assert secret not in new.model_dump_json()


@pytest.mark.parametrize(
    "fields",
    [
        {"repo": GITHUB_TOKEN},  # not configured: the refusal quotes the name
        {"severity": GITHUB_TOKEN},  # not a severity word: the refusal quotes the word
    ],
)
def test_secrets_are_redacted_in_refusals(fields: dict[str, str]) -> None:
    with pytest.raises(InvalidInput) as caught:
        normalize(IncidentIn.model_validate({"error": "e", **fields}), config())
    assert GITHUB_TOKEN not in str(caught.value)


def test_fingerprint_ignores_volatile_numbers_but_not_the_service() -> None:
    a = fingerprint("svc", given=None, error="timeout after 30s on 10.0.0.1", frames=[])
    b = fingerprint("svc", given=None, error="timeout after 45s on 10.0.0.7", frames=[])
    c = fingerprint("other", given=None, error="timeout after 30s on 10.0.0.1", frames=[])
    assert a == b != c


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "4bf92f3577b34da6a3ce929d0e0e4736"),
        ("00-00000000000000000000000000000000-00f067aa0ba902b7-01", None),  # all-zero id is invalid
        ("garbage", None),
        (None, None),
    ],
)
def test_traceparent(header: str | None, expected: str | None) -> None:
    assert trace_id_from_traceparent(header) == expected
