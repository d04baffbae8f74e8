"""Forges: where the bot pushes its branches and opens pull requests. One Protocol, one module each."""

from pathlib import Path
from typing import Literal, Protocol

from pydantic import BaseModel, Field

#: The hidden marker every bot PR body carries; the bot finds its own PRs by it.
MARKER_PREFIX = "<!-- healer:incident="


def marker(incident_id: str) -> str:
    return f"{MARKER_PREFIX}{incident_id} -->"


def marked_incident(body: str) -> str | None:
    """The incident id a PR body's marker names, or None when the body carries no marker."""
    if MARKER_PREFIX not in body:
        return None
    return body.split(MARKER_PREFIX, 1)[1].split(" ", 1)[0]


class PullRequestDraft(BaseModel):
    title: str
    body: str
    head: str = Field(description="The branch, e.g. healer/INC-20261122-0042.")
    base: str
    draft: bool = False
    labels: list[str] = Field(default_factory=list)
    incident_id: str


class PullRequest(BaseModel):
    """A pull request as a forge reports it."""

    number: int
    url: str
    title: str
    body: str
    state: Literal["open", "closed", "merged"]
    draft: bool
    head: str
    base: str
    head_sha: str | None = None
    labels: list[str] = Field(default_factory=list)
    incident_id: str | None = None


class Forge(Protocol):
    """What the pipeline needs from a forge; LocalForge and GitHubForge implement it."""

    name: str

    def remote_url(self) -> str:
        """Where branches are pushed and fetched (a path or an https URL, never with a token in it)."""
        ...

    def git_auth_env(self) -> dict[str, str]:
        """Environment for git commands that talk to the remote (credentials by env, never argv)."""
        ...

    def find_open(self, incident_id: str, branch: str) -> PullRequest | None:
        """The open PR carrying this incident's marker, or whose head is ``branch``."""
        ...

    def create(self, draft: PullRequestDraft) -> PullRequest:
        """Open a PR; if the forge says one exists for the branch, return that one instead."""
        ...

    def update(self, number: int, *, title: str, body: str, draft: bool) -> PullRequest: ...

    def comment(self, number: int, body: str) -> None: ...

    def count_open_bot_prs(self) -> int:
        """Open PRs that carry the bot's marker, for the per-repository cap."""
        ...


class ForgeFactory(Protocol):
    def __call__(self, repo: str, workspace: Path) -> Forge: ...
