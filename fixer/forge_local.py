"""LocalForge: the embedded forge. The remote is a bare repository on disk; a PR is a record.

No account anywhere: branches are pushed to the bare repository, pull requests are records kept
through ``PullRequestRecords`` (the server keeps them in its database), and a person reviews
with ``healer pr list | show | merge | close`` as they would on GitHub. Merging is a real merge
commit in the bare repository, made without a work tree.
"""

from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, Field

from fixer import gitcmd
from fixer.errors import ForgeError
from fixer.forge import PullRequest, PullRequestDraft


class LocalPullRequest(PullRequest):
    repo: str
    merge_commit: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    extra: dict[str, Any] = Field(default_factory=dict, description="e.g. the verification record")


class Comment(BaseModel):
    author: str
    body: str
    at: datetime | None = None


class PullRequestRecords(Protocol):
    """Where local pull requests are kept. Numbers are unique across repositories."""

    def create(self, repo: str, draft: PullRequestDraft, head_sha: str, url_for: str) -> LocalPullRequest: ...

    def get(self, number: int) -> LocalPullRequest | None: ...

    def find_open(self, repo: str, incident_id: str, branch: str) -> LocalPullRequest | None: ...

    def update(self, number: int, **fields: Any) -> LocalPullRequest: ...

    def list_prs(self, repo: str | None = None, state: str | None = None) -> list[LocalPullRequest]: ...

    def add_comment(self, number: int, author: str, body: str) -> None: ...

    def comments(self, number: int) -> list[Comment]: ...


def ensure_bare_remote(source: str, bare: Path) -> Path:
    """The local forge's bare repository for a repo, seeded from ``source`` the first time."""
    if not (bare / "HEAD").exists():
        bare.parent.mkdir(parents=True, exist_ok=True)
        gitcmd.run(bare.parent, "clone", "--quiet", "--bare", "--", source, str(bare), timeout=600)
    return bare


class LocalForge:
    name = "local"

    def __init__(self, repo: str, bare: Path, records: PullRequestRecords) -> None:
        self.repo = repo
        self.bare = bare
        self.records = records

    def remote_url(self) -> str:
        return str(self.bare)

    def git_auth_env(self) -> dict[str, str]:
        return {}

    def _head_sha(self, branch: str) -> str:
        return gitcmd.out(
            self.bare, "rev-parse", "--verify", "--end-of-options", f"refs/heads/{gitcmd.safe_ref(branch)}"
        )

    def find_open(self, incident_id: str, branch: str) -> PullRequest | None:
        return self.records.find_open(self.repo, incident_id, branch)

    def create(self, draft: PullRequestDraft) -> PullRequest:
        existing = self.records.find_open(self.repo, draft.incident_id, draft.head)
        if existing is not None:
            return existing
        return self.records.create(self.repo, draft, self._head_sha(draft.head), url_for=f"local://{self.repo}/pull")

    def update(self, number: int, *, title: str, body: str, draft: bool) -> PullRequest:
        current = self.records.get(number)
        if current is None:
            raise ForgeError(f"local pull request #{number} does not exist")
        return self.records.update(number, title=title, body=body, draft=draft, head_sha=self._head_sha(current.head))

    def comment(self, number: int, body: str) -> None:
        self.records.add_comment(number, "devops-healer[bot]", body)

    def acknowledge(self, number: int, comment_id: str) -> None:
        """Commands on the local forge come from `healer pr` on the operator's terminal: nothing to react to."""

    def count_open_bot_prs(self) -> int:
        return len(self.records.list_prs(self.repo, "open"))


def diff(bare: Path, pr: PullRequest) -> str:
    """The change a pull request makes: its head against the merge base with its base branch.

    Once merged, the base branch contains the head, so the diff is taken against the base as it was
    just before the merge (the merge commit's first parent) and the head that was merged."""
    merge_commit = getattr(pr, "merge_commit", None)
    if merge_commit and pr.head_sha:
        span = f"{gitcmd.safe_ref(merge_commit)}^1...{gitcmd.safe_ref(pr.head_sha)}"
    else:
        span = f"refs/heads/{gitcmd.safe_ref(pr.base)}...refs/heads/{gitcmd.safe_ref(pr.head)}"
    return gitcmd.run(bare, "diff", "--stat", "--patch", span, "--").stdout.decode(errors="replace")


def merge(bare: Path, records: PullRequestRecords, number: int, *, by: str) -> LocalPullRequest:
    """Merge an open pull request in the bare repository (a merge commit, no work tree)."""
    pr = records.get(number)
    if pr is None:
        raise ForgeError(f"local pull request #{number} does not exist; see `healer pr list`")
    if pr.state != "open":
        raise ForgeError(f"pull request #{number} is {pr.state}; only open pull requests can be merged")
    base_ref, head_ref = f"refs/heads/{gitcmd.safe_ref(pr.base)}", f"refs/heads/{gitcmd.safe_ref(pr.head)}"
    base_sha = gitcmd.out(bare, "rev-parse", "--verify", "--end-of-options", base_ref)
    head_sha = gitcmd.out(bare, "rev-parse", "--verify", "--end-of-options", head_ref)
    tree = gitcmd.run(bare, "merge-tree", "--write-tree", base_sha, head_sha, check=False)
    if tree.returncode != 0:
        raise ForgeError(
            f"pull request #{number} conflicts with {pr.base}; ask the agent for a follow-up on the current {pr.base}"
        )
    tree_sha = tree.stdout.decode().split()[0]
    message = f"Merge pull request #{number} from {pr.head}\n\n{pr.title}\n"
    env = {
        "GIT_AUTHOR_NAME": by,
        "GIT_AUTHOR_EMAIL": f"{by}@localhost",
        "GIT_COMMITTER_NAME": by,
        "GIT_COMMITTER_EMAIL": f"{by}@localhost",
    }
    merged = (
        gitcmd.run(bare, "commit-tree", tree_sha, "-p", base_sha, "-p", head_sha, input_bytes=message.encode(), env=env)
        .stdout.decode()
        .strip()
    )
    # Only if the base has not moved since we read it: a concurrent merge fails instead of being lost.
    gitcmd.run(bare, "update-ref", base_ref, merged, base_sha)
    return records.update(number, state="merged", merge_commit=merged, head_sha=head_sha)


def close(records: PullRequestRecords, number: int) -> LocalPullRequest:
    pr = records.get(number)
    if pr is None:
        raise ForgeError(f"local pull request #{number} does not exist; see `healer pr list`")
    if pr.state != "open":
        raise ForgeError(f"pull request #{number} is already {pr.state}")
    return records.update(number, state="closed")
