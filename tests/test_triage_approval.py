"""Approval helpers: which changes need a person, who may approve, expiry, staleness, deny."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from server.triage.approval import (
    Answer,
    ApprovalPolicy,
    Outcome,
    approval_subject,
    can_approve,
    decide,
    head_subject,
    is_expired,
    is_stale,
    needs_approval,
)

DEFAULTS = ApprovalPolicy()
DIFF_HEADER = "diff --git a/app/x.py b/app/x.py\n--- a/app/x.py\n+++ b/app/x.py\n@@ -1,2 +1,2 @@\n"


@pytest.mark.parametrize(
    ("paths", "diff", "reason"),
    [
        # an ordinary fix needs nobody
        (["app/db.py"], DIFF_HEADER + "-pool_size=5\n+pool_size=20\n", None),
        # auth, migrations, billing directories at any depth, including the top
        (["src/auth/session.py"], "", "the change touches src/auth/session.py, which matches '**/auth/**'"),
        (["auth/tokens.py"], "", "the change touches auth/tokens.py, which matches '**/auth/**'"),
        (
            ["db/migrations/0042_drop_col.py"],
            "",
            "the change touches db/migrations/0042_drop_col.py, which matches '**/migrations/**'",
        ),
        (
            ["services/billing/invoice.py"],
            "",
            "the change touches services/billing/invoice.py, which matches '**/billing/**'",
        ),
        # a directory merely ending in "auth" is not the auth directory
        (["src/oauthlib_compat/x.py"], "", None),
        # name globs without a slash match the file name anywhere
        (["config/app_secrets.yaml"], "", "the change touches config/app_secrets.yaml, which matches '*secret*'"),
        (
            ["./deploy/Credentials.json"],
            "",
            "the change touches ./deploy/Credentials.json, which matches '*credential*'",
        ),
        # destructive SQL in added lines
        (
            ["app/cleanup.py"],
            DIFF_HEADER + '+    cur.execute("DELETE FROM sessions WHERE expired")\n',
            "the change adds 'DELETE FROM' (in: cur.execute(\"DELETE FROM sessions WHERE expired\"))",
        ),
        (["app/x.sql"], DIFF_HEADER + "+drop  table users;\n", "the change adds 'drop  table' (in: drop table users;)"),
        (["app/x.sql"], DIFF_HEADER + "+TRUNCATE audit_log;\n", "the change adds 'TRUNCATE' (in: TRUNCATE audit_log;)"),
        # removing such a line, or mentioning it in context, is not adding it
        (["app/x.sql"], DIFF_HEADER + "-DELETE FROM sessions;\n DROP TABLE old;\n", None),
        # the +++ header line is not an added line
        (["app/x.py"], "--- a/TRUNCATE.md\n+++ b/TRUNCATE.md\n", None),
    ],
)
def test_needs_approval(paths: list[str], diff: str, reason: str | None) -> None:
    assert needs_approval(paths, diff, DEFAULTS) == reason


def test_needs_approval_follows_configured_globs_and_patterns() -> None:
    policy = ApprovalPolicy(paths=("infra/**",), diff_patterns=(r"\bGRANT\b",))
    assert needs_approval(["src/auth/x.py"], "", policy) is None
    assert needs_approval(["infra/main.tf"], "", policy) == "the change touches infra/main.tf, which matches 'infra/**'"
    assert (
        needs_approval(["a.sql"], "+GRANT ALL ON x TO y;\n", policy)
        == "the change adds 'GRANT' (in: GRANT ALL ON x TO y;)"
    )


# ---- subjects ----------------------------------------------------------------------------------


def test_subject_ignores_line_endings_and_trailing_space_but_not_content() -> None:
    diff = DIFF_HEADER + "-a = 1\n+a = 2\n"
    assert approval_subject(diff) == approval_subject(diff.replace("\n", "\r\n"))
    assert approval_subject(diff) == approval_subject(diff.replace("+a = 2", "+a = 2   "))
    assert approval_subject(diff) != approval_subject(diff.replace("+a = 2", "+a = 3"))
    assert approval_subject(diff).startswith("sha256:") and len(approval_subject(diff)) == 7 + 64


def test_staleness() -> None:
    approved = approval_subject("+a = 2\n")
    assert not is_stale(approved, approval_subject("+a = 2\n"))
    assert is_stale(approved, approval_subject("+a = 2\n+b = 3\n"))
    assert is_stale(head_subject("a" * 40), head_subject("b" * 40))
    with pytest.raises(ValueError, match="not a commit sha"):
        head_subject("--upload-pack=evil")


# ---- who may approve ---------------------------------------------------------------------------

TEAM = ApprovalPolicy(users=("alice",), groups=("sre",), group_members={"sre": ("bob",), "dev": ("dave",)})


@pytest.mark.parametrize(
    ("user", "requester", "groups", "allowed", "reason"),
    [
        ("alice", "agent:claude", (), True, "alice is a named approver"),
        ("bob", "agent:claude", (), True, "bob is in approver group sre"),
        ("erin", "agent:claude", ("sre",), True, "erin is in approver group sre"),  # groups from the identity provider
        ("dave", "agent:claude", (), False, "dave is not an approver"),
        # never the requester, named approver or not, whatever the case
        ("alice", "alice", (), False, "alice requested this change and cannot approve it"),
        ("Alice", "alice", (), False, "Alice requested this change and cannot approve it"),
        ("", "agent:claude", (), False, "no user named"),
    ],
)
def test_can_approve(user: str, requester: str, groups: tuple[str, ...], allowed: bool, reason: str) -> None:
    permission = can_approve(user, requester, TEAM, user_groups=groups)
    assert (bool(permission), permission.reason) == (allowed, reason)


def test_nobody_approves_when_no_approvers_are_configured() -> None:
    permission = can_approve("alice", "agent:claude", DEFAULTS)
    assert not permission
    assert permission.reason == "no approvers are configured ([routing.approval] users or groups)"


# ---- expiry -----------------------------------------------------------------------------------

REQUESTED = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("policy", "elapsed", "expired"),
    [
        (DEFAULTS, timedelta(hours=23, minutes=59, seconds=59), False),
        (DEFAULTS, timedelta(hours=24), True),  # 24 hours by default; the deadline itself is too late
        (ApprovalPolicy(expiry_hours=2), timedelta(hours=1), False),
        (ApprovalPolicy(expiry_hours=2), timedelta(hours=2, seconds=1), True),
    ],
)
def test_is_expired(policy: ApprovalPolicy, elapsed: timedelta, expired: bool) -> None:
    assert is_expired(REQUESTED, REQUESTED + elapsed, policy) is expired


# ---- answering a request ------------------------------------------------------------------------

SUBJECT = approval_subject("+pool_size = 20\n")
CHANGED = approval_subject("+pool_size = 50\n")


def answer(kind: Answer, user: str, **overrides: Any) -> tuple[Outcome, str]:
    arguments: dict[str, Any] = {
        "requester": "agent:claude",
        "requested_at": REQUESTED,
        "requested_subject": SUBJECT,
        "current_subject": SUBJECT,
        "now": REQUESTED + timedelta(hours=1),
        "policy": TEAM,
    }
    arguments.update(overrides)
    result = decide(kind, user, **arguments)
    return result.outcome, result.reason


@pytest.mark.parametrize(
    ("kind", "user", "overrides", "expected"),
    [
        (Answer.approve, "alice", {}, (Outcome.approved, "approved by alice (alice is a named approver)")),
        (Answer.approve, "bob", {}, (Outcome.approved, "approved by bob (bob is in approver group sre)")),
        # someone without the right changes nothing
        (Answer.approve, "dave", {}, (Outcome.refused, "dave is not an approver")),
        (Answer.deny, "dave", {}, (Outcome.refused, "dave is not an approver")),
        # the requester cannot approve their own change but may withdraw it
        (
            Answer.approve,
            "alice",
            {"requester": "alice"},
            (Outcome.refused, "alice requested this change and cannot approve it"),
        ),
        (Answer.deny, "agent:claude", {}, (Outcome.denied, "denied by agent:claude")),
        # an approver denies
        (Answer.deny, "alice", {}, (Outcome.denied, "denied by alice")),
        # too late
        (
            Answer.approve,
            "alice",
            {"now": REQUESTED + timedelta(hours=25)},
            (Outcome.expired, "the request expired at 2026-11-23T09:00:00+00:00"),
        ),
        # the fix changed after the request: the approval would be for something else
        (
            Answer.approve,
            "alice",
            {"current_subject": CHANGED},
            (Outcome.stale, f"the fix changed since approval was requested ({SUBJECT} -> {CHANGED})"),
        ),
        # a deny stands even after the fix changed or the request expired
        (
            Answer.deny,
            "alice",
            {"current_subject": CHANGED, "now": REQUESTED + timedelta(days=3)},
            (Outcome.denied, "denied by alice"),
        ),
    ],
)
def test_decide(kind: Answer, user: str, overrides: dict[str, Any], expected: tuple[Outcome, str]) -> None:
    assert answer(kind, user, **overrides) == expected
