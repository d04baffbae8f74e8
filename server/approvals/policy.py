"""Approval, the pure parts: which fixes need a person, who may approve, and when an approval lapses.

An approval is bound to a subject: a hash of the diff (``sha256:...``) or a pull request's head
commit (``sha:...``). When the fix changes after approval the subjects differ and the approval
is stale. The store keeps the requests and answers; these functions decide.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from functools import cache

from pydantic import BaseModel, ConfigDict, Field

from fixer.change import parse_diff
from fixer.models import Change
from server.triage.rules import Regex

DEFAULT_PATHS: tuple[str, ...] = (
    "**/auth/**",
    "**/migrations/**",
    "**/billing/**",
    "*secret*",
    "*credential*",
)
DEFAULT_DIFF_PATTERNS: tuple[str, ...] = (
    r"\bDROP\s+(TABLE|DATABASE|SCHEMA)\b",
    r"\bDELETE\s+FROM\b",
    r"\bTRUNCATE\b",
)


class ApprovalPolicy(BaseModel):
    """The ``[routing.approval]`` table: what needs approval, who may give it, for how long."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    users: tuple[str, ...] = Field(default=(), description="People who may approve, by name.")
    groups: tuple[str, ...] = Field(default=(), description="Groups whose members may approve.")
    group_members: dict[str, tuple[str, ...]] = Field(default_factory=dict, description="group -> user names")
    expiry_hours: float = Field(default=24.0, gt=0, le=24 * 30)
    paths: tuple[str, ...] = Field(default=DEFAULT_PATHS, description="Globs; a change touching one needs approval.")
    diff_patterns: tuple[Regex, ...] = Field(
        default=DEFAULT_DIFF_PATTERNS, description="Regexes searched in added lines; a hit needs approval."
    )

    @property
    def expiry(self) -> timedelta:
        return timedelta(hours=self.expiry_hours)


# ---- which changes need approval ----------------------------------------------------------


@cache
def glob_regex(glob: str) -> re.Pattern[str]:
    """A path glob as a regex: ``**/`` any directories (or none), ``*`` within one segment, ``?`` one char.

    A glob without ``/`` matches the file name in any directory (``*secret*`` matches
    ``config/app_secrets.yaml``), as in .gitignore.
    """
    parts: list[str] = []
    index = 0
    while index < len(glob):
        if glob.startswith("**/", index):
            parts.append("(?:.*/)?")
            index += 3
        elif glob.startswith("**", index):
            parts.append(".*")
            index += 2
        elif glob[index] == "*":
            parts.append("[^/]*")
            index += 1
        elif glob[index] == "?":
            parts.append("[^/]")
            index += 1
        else:
            parts.append(re.escape(glob[index]))
            index += 1
    body = "".join(parts)
    if "/" not in glob:
        body = "(?:.*/)?" + body
    return re.compile(body, re.IGNORECASE)


def path_matches(path: str, glob: str) -> bool:
    """Whether a repository-relative path (``./`` and leading ``/`` ignored) matches the glob."""
    normalized = path.replace("\\", "/")
    while normalized.startswith("./"):
        normalized = normalized[2:]
    return glob_regex(glob).fullmatch(normalized.lstrip("/")) is not None


def added_lines(diff_text: str) -> Iterable[str]:
    """The lines a unified diff adds (``+`` lines, not the ``+++`` file header)."""
    for line in diff_text.splitlines():
        if line.startswith("+") and not line.startswith("+++"):
            yield line[1:]


def needs_approval(changed_paths: Sequence[str], diff_text: str, policy: ApprovalPolicy) -> str | None:
    """Why this change needs a person's yes before its pull request opens, or None when it does not."""
    for path in changed_paths:
        for glob in policy.paths:
            if path_matches(path, glob):
                return f"the change touches {path}, which matches {glob!r}"
    compiled = [re.compile(pattern, re.IGNORECASE) for pattern in policy.diff_patterns]
    for line in added_lines(diff_text):
        for pattern in compiled:
            found = pattern.search(line)
            if found is not None:
                snippet = " ".join(line.split())[:120]
                return f"the change adds {found.group(0)!r} (in: {snippet})"
    return None


class FixGate(BaseModel):
    """A held fix: why a person must approve it, and the subject their approval is bound to."""

    model_config = ConfigDict(frozen=True)

    why: str
    subject: str


def fix_gate(change: Change, policy: ApprovalPolicy) -> FixGate | None:
    """Whether an agent's change waits for a person before it runs; None when it goes straight on."""
    if change.diff is not None:
        paths = [item.path for item in parse_diff(change.diff)]
        text = change.diff
    else:
        paths = [edit.path for edit in change.edits or []]
        text = "\n".join(
            "+" + line for edit in change.edits or [] for line in (edit.new or edit.create or "").splitlines()
        )
    why = needs_approval(paths, text, policy)
    return None if why is None else FixGate(why=why, subject=fix_subject(change))


# ---- subjects -----------------------------------------------------------------------------


def approval_subject(diff: str) -> str:
    """What an approval is bound to: the diff's SHA-256, line endings and trailing spaces normalized."""
    normalized = "\n".join(line.rstrip() for line in diff.replace("\r\n", "\n").split("\n")).strip("\n")
    return "sha256:" + hashlib.sha256(normalized.encode("utf-8")).hexdigest()


def fix_subject(change: Change) -> str:
    """The subject of an approval of a held fix: its change, as the agent sent it."""
    return approval_subject(change.model_dump_json())


def head_subject(head_sha: str) -> str:
    """The subject for a pull request's head commit, when approval is given on the PR."""
    if not re.fullmatch(r"[0-9a-f]{7,64}", head_sha):
        raise ValueError(f"not a commit sha: {head_sha!r}")
    return f"sha:{head_sha}"


def is_stale(approved_subject: str, current_subject: str) -> bool:
    """True when the fix changed after it was approved."""
    return approved_subject != current_subject


def is_expired(requested_at: datetime, now: datetime, policy: ApprovalPolicy) -> bool:
    return now >= requested_at + policy.expiry


# ---- who may approve ----------------------------------------------------------------------


class Permission(BaseModel):
    """The answer to "may this person answer this request?"; truthy when allowed."""

    allowed: bool
    reason: str

    def __bool__(self) -> bool:
        return self.allowed


def can_approve(user: str, requester: str, policy: ApprovalPolicy, *, user_groups: Iterable[str] = ()) -> Permission:
    """Whether ``user`` may approve a fix ``requester`` asked for; never the requester."""
    name = user.strip()
    if not name:
        return Permission(allowed=False, reason="no user named")
    if name.casefold() in (requester.strip().casefold(), _requester_name(requester)):
        return Permission(allowed=False, reason=f"{name} requested this change and cannot approve it")
    if name in policy.users:
        return Permission(allowed=True, reason=f"{name} is a named approver")
    member_of = set(user_groups) | {group for group, members in policy.group_members.items() if name in members}
    for group in policy.groups:
        if group in member_of:
            return Permission(allowed=True, reason=f"{name} is in approver group {group}")
    if not policy.users and not policy.groups:
        return Permission(allowed=False, reason="no approvers are configured ([routing.approval] users or groups)")
    return Permission(allowed=False, reason=f"{name} is not an approver")


def _requester_name(requester: str) -> str:
    """``agent:ana`` and ``human:ana`` were asked for under the name ana: ana may not approve them."""
    kind, _, name = requester.strip().partition(":")
    return name.casefold() if kind in ("agent", "human") and name else requester.strip().casefold()


class Answer(StrEnum):
    approve = "approve"
    deny = "deny"


class Outcome(StrEnum):
    approved = "approved"  # the held fix goes on
    denied = "denied"  # escalate to a person
    refused = "refused"  # this user may not answer; nothing changes
    expired = "expired"  # too late; escalate
    stale = "stale"  # the fix changed since the request; ask again


class ApprovalResult(BaseModel):
    outcome: Outcome
    reason: str


def decide(
    answer: Answer,
    user: str,
    *,
    requester: str,
    requested_at: datetime,
    requested_subject: str,
    current_subject: str,
    now: datetime,
    policy: ApprovalPolicy,
    user_groups: Iterable[str] = (),
) -> ApprovalResult:
    """Apply one person's answer to a pending request.

    Denying needs the same right as approving, except that the requester may withdraw their own
    request. An approval after expiry, or of a fix that changed since the request, does not count.
    """
    permission = can_approve(user, requester, policy, user_groups=user_groups)
    is_requester = user.strip().casefold() in (requester.strip().casefold(), _requester_name(requester))
    if answer is Answer.deny:
        if permission or is_requester:
            return ApprovalResult(outcome=Outcome.denied, reason=f"denied by {user}")
        return ApprovalResult(outcome=Outcome.refused, reason=permission.reason)
    if not permission:
        return ApprovalResult(outcome=Outcome.refused, reason=permission.reason)
    if is_expired(requested_at, now, policy):
        deadline = requested_at + policy.expiry
        return ApprovalResult(outcome=Outcome.expired, reason=f"the request expired at {deadline.isoformat()}")
    if is_stale(requested_subject, current_subject):
        return ApprovalResult(
            outcome=Outcome.stale,
            reason=f"the fix changed since approval was requested ({requested_subject} -> {current_subject})",
        )
    return ApprovalResult(outcome=Outcome.approved, reason=f"approved by {user} ({permission.reason})")
