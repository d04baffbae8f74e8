"""Approval helpers: which changes need a person, who may approve, expiry, staleness, deny."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from fixer.models import Change, Edit
from server.approvals import records as approvals
from server.approvals.policy import (
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
from server.common.settings import Settings
from server.config import HealerConfig, load_config
from server.errors import ApprovalStale
from server.fixing.models import FixSubmission
from server.fixing.submit import FixService
from server.intake.reports import normalize
from server.models import IncidentIn, Status
from server.review import reviews
from server.review.reviews import ReviewEvent
from server.store import Store, queries
from server.store.triage_schema import outbox
from server.triage.policy import routing_policy
from tests.fixer_repo import TEST_COMMAND, make_calc_repo

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


# ---- answering against what is current now (server.approvals.records) ---------------------------------

HEAD_ONE, HEAD_TWO = "1" * 40, "2" * 40
AUTH_EDIT = "app/auth/a.py"


def calc_config(tmp_path: Path) -> HealerConfig:
    repo = make_calc_repo(tmp_path / "calc")
    (tmp_path / "healer.toml").write_text(
        f'[repos.calc]\npath = "{repo}"\ntest_command = "{TEST_COMMAND}"\nservices = ["calc"]\n'
        '[routing.approval]\nusers = ["ana"]\n'
    )
    return load_config(tmp_path / "healer.toml")


def submission(text: str) -> FixSubmission:
    return FixSubmission(
        change=Change(edits=[Edit(path=AUTH_EDIT, create=text)]), summary="set a", explanation="a needs a value"
    )


def push_to_the_pr(store: Store, iid: str, head: str) -> None:
    """Someone else pushes a commit to the bot's PR branch, as the forge's webhook reports it."""
    event = ReviewEvent(kind="pr_pushed", incident_id=iid, number=1, actor="github:carol", head_sha=head)
    assert reviews.apply(store, event) == "taken_over"


def test_an_approval_after_the_pr_head_moved_is_stale_and_asks_again(tmp_path: Path) -> None:
    config = calc_config(tmp_path)
    policy = routing_policy(config).config.approval
    store = Store.open(f"sqlite:///{tmp_path / 'h.db'}")
    service = FixService(store, config, Settings(home=tmp_path / "home"))
    iid = store.ingest(normalize(IncidentIn(service="calc", error="boom", severity="high"), config)).id
    store.transition(iid, Status.pending, actor="system")
    store.claim(iid, agent="cline")
    service.submit(iid, submission("A = 1\n"), agent="cline")  # touches auth: held
    first = approvals.answer(store, iid, user="ana", approve=True, reason="", policy=policy)
    assert service.resume(iid, first.payload or {}).status == Status.pr_open
    head = _head_of(store, iid)
    # A follow-up round: the new change is held, bound to the PR's head as it is now.
    store.transition(iid, Status.changes_requested, actor="github:ana", updates={"review_state": "changes_requested"})
    store.claim(iid, agent="cline")
    assert service.submit(iid, submission("A = 2\n"), agent="cline").held_for_approval
    push_to_the_pr(store, iid, HEAD_TWO)
    with pytest.raises(ApprovalStale, match=r"A new approval \(request \d+\) was requested") as refused:
        approvals.answer(store, iid, user="ana", approve=True, reason="looks fine", policy=policy)
    assert f"sha:{head} -> sha:{HEAD_TWO}" in refused.value.message and "Nothing ran" in refused.value.message
    *_, stale, fresh = approvals.requests_for(store, iid)
    assert (stale.decision, fresh.decision, fresh.id) == ("stale", None, refused.value.new_id)
    assert (fresh.subject, fresh.requested_by) == (stale.subject, "agent:cline")  # the same change, asked again
    assert store.get(iid).status == Status.awaiting_approval
    asked = [e for e in store.timeline(iid) if e.event == "approval_requested"][-1]
    assert asked.detail["approval"] == fresh.id and "is stale" in asked.detail["stale"]
    with store.read() as connection:  # people are told, as for the first request
        kinds = connection.execute(select(outbox.c.kind).order_by(outbox.c.id)).scalars().all()
    assert kinds.count("approval_needed") == 3
    second = approvals.answer(store, iid, user="ana", approve=True, reason="", policy=policy)
    assert second.status == Status.fixing and second.payload is not None
    assert FixSubmission.model_validate(second.payload["submission"]) == submission("A = 2\n")
    store.close()


def _head_of(store: Store, iid: str) -> str:
    with store.read() as connection:
        return str(queries.incident_row(connection, iid).pr_head_sha)


# (how the request is bound, whether a push to the PR makes approving it stale)
BINDINGS = [
    # triage's "may agents work on this": about the incident, not any commit
    ("incident", lambda iid: f"incident:{iid}", None, False),
    # approval given on a PR's head commit
    ("fix", lambda iid: head_subject(HEAD_ONE), None, True),
    # a held change with no PR open yet: only the change's hash, which has not moved
    ("fix", lambda iid: approval_subject(submission("A = 1\n").change.model_dump_json()), "A = 1\n", False),
]


@pytest.mark.parametrize(("kind", "subject", "held", "stale"), BINDINGS)
def test_what_an_approval_is_checked_against(
    store: Store, kind: str, subject: Callable[[str], str], held: str | None, stale: bool
) -> None:
    iid = store.ingest(normalize(IncidentIn(service="calc", error="boom", severity="high"), HealerConfig())).id
    store.transition(iid, Status.triaged, actor="system")
    store.transition(iid, Status.awaiting_approval, actor="system", updates={"pr_number": 1, "pr_head_sha": HEAD_ONE})
    payload = {"submission": submission(held).model_dump(mode="json"), "agent": "cline"} if held else None
    with store.write() as connection:
        row = queries.incident_row(connection, iid)
        approvals.request(
            connection,
            row,
            kind=kind,
            subject=subject(iid),
            requested_by="agent:cline",
            reason="r",
            policy=TEAM,
            now=store.clock.now(),
            payload=payload,
        )
    if held is None:
        push_to_the_pr(store, iid, HEAD_TWO)
    if stale:
        with pytest.raises(ApprovalStale, match=f"sha:{HEAD_ONE} -> sha:{HEAD_TWO}"):
            approvals.answer(store, iid, user="alice", approve=True, reason="", policy=TEAM)
        assert [r.subject for r in approvals.requests_for(store, iid)][-1] == head_subject(HEAD_TWO)
    assert approvals.answer(store, iid, user="alice", approve=True, reason="", policy=TEAM).outcome == "approved"
