"""The emulated GitHub's state: repositories, pull requests, comments, reviews, App installs and events."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

BOT = "devops-healer[bot]"


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class Clock(Protocol):
    """The emulator's time (tests pass ``tests.conftest.FakeClock`` to move it by hand)."""

    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class Fault:
    """One queued wrong answer for a route: a status, headers and (GitHub-shaped) body."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] | None = None


@dataclass
class Comment:
    id: int
    body: str
    user: str
    created_at: str


@dataclass
class Review:
    id: int
    state: str  # APPROVED, CHANGES_REQUESTED, COMMENTED
    body: str
    user: str
    commit_id: str
    submitted_at: str


@dataclass
class ReviewComment:
    id: int
    body: str
    path: str
    line: int | None
    user: str
    commit_id: str
    created_at: str


@dataclass
class PullRecord:
    number: int
    title: str
    body: str | None
    head: str
    base: str
    draft: bool
    created_at: str
    updated_at: str
    state: str = "open"
    merged: bool = False
    merge_commit_sha: str | None = None
    labels: list[str] = field(default_factory=list)
    comments: list[Comment] = field(default_factory=list)
    reviews: list[Review] = field(default_factory=list)
    review_comments: list[ReviewComment] = field(default_factory=list)
    user: str = BOT


@dataclass
class Repo:
    """One emulated repository: its bare git repository on disk and its pull requests."""

    owner: str
    name: str
    bare: Path
    default_branch: str = "main"
    pulls: dict[int, PullRecord] = field(default_factory=dict)
    next_id: int = 1000  # comments and reviews share GitHub's kind of global ids

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"

    def git(self, *args: str, check: bool = True) -> str:
        done = subprocess.run(["git", "-C", str(self.bare), *args], capture_output=True, text=True, check=check)
        return done.stdout

    def sha(self, ref: str) -> str | None:
        """The commit a ref (``main``, ``heads/main``, ``refs/heads/main``) points at, or None."""
        full = ref if ref.startswith("refs/") else f"refs/{ref}" if ref.startswith("heads/") else f"refs/heads/{ref}"
        return self.git("rev-parse", "--verify", "--quiet", full, check=False).strip() or None

    def is_commit(self, sha: str) -> bool:
        if len(sha) != 40 or any(c not in "0123456789abcdef" for c in sha):
            return False
        return self.git("cat-file", "-t", sha, check=False).strip() == "commit"

    def is_ancestor(self, old: str, new: str) -> bool:
        done = subprocess.run(["git", "-C", str(self.bare), "merge-base", "--is-ancestor", old, new], check=False)
        return done.returncode == 0

    def refs(self, prefix: str = "refs/") -> dict[str, str]:
        """Every ref under ``prefix`` with its object id."""
        lines = self.git("for-each-ref", "--format=%(refname) %(objectname)", prefix).splitlines()
        return dict(line.split(" ", 1) for line in lines if line)

    def open_pull_for(self, head: str) -> PullRecord | None:
        return next((pr for pr in self.pulls.values() if pr.state == "open" and pr.head == head), None)

    def take_id(self) -> int:
        self.next_id += 1
        return self.next_id


@dataclass
class AppInstallation:
    app_id: int
    public_key_pem: bytes
    installation_id: int
    token_ttl: timedelta = timedelta(hours=1)
    issued: list[tuple[str, datetime]] = field(default_factory=list)

    def accepts(self, token: str, now: datetime) -> bool:
        return any(token == issued and now < expires for issued, expires in self.issued)


@dataclass
class Event:
    """Something that happened on the emulated GitHub, named as GitHub names webhook events.

    ``name`` is the ``X-GitHub-Event`` value (``pull_request``, ``issue_comment``, ``push``, ...) and
    ``payload`` the body GitHub would deliver; a webhook deliverer subscribes to these.
    """

    name: str
    action: str | None
    repo: str
    payload: dict[str, Any]


Listener = Callable[[Event], None]
