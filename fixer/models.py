"""What goes into the fixer (a repo spec, a change, the incident's facts) and what comes out."""

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from fixer.sandbox import SandboxMode

DEFAULT_DENY = [
    # CI: what runs with the repository's secrets on the next push, and the actions it calls.
    ".github/workflows/**",
    ".github/actions/**",
    "action.yml",
    "action.yaml",
    ".gitlab-ci.yml",
    ".gitlab/**",
    ".circleci/**",
    "Jenkinsfile",
    ".travis.yml",
    "azure-pipelines.yml",
    "bitbucket-pipelines.yml",
    ".buildkite/**",
    ".drone.yml",
    ".woodpecker.yml",
    ".woodpecker/**",
    # Git's own settings carried in the tree: submodule URLs, filter and diff drivers, the LFS endpoint.
    ".gitmodules",
    ".gitattributes",
    ".lfsconfig",
    # Code that runs on a developer's machine or in a dev container without review of its own.
    ".pre-commit-config.yaml",
    ".husky/**",
    ".devcontainer/**",
    # Keys, certificates and environment files.
    "*.pem",
    "*.key",
    "*.p12",
    "*.pfx",
    ".env",
    ".env.*",
    "**/.env",
    "**/.env.*",
    # Who reviews, and how.
    ".coderabbit.yaml",
    ".coderabbit.yml",
    "CODEOWNERS",
    ".github/CODEOWNERS",
    "docs/CODEOWNERS",
]


#: Replaces the secrets in a text. The fixer knows no secrets of its own: the server passes its redactor in,
#: and the fixer runs every text that can reach a commit, a pull request or a stored result through it.
Redact = Callable[[str], str]


def keep(text: str) -> str:
    """The redactor of a fixer given none: text as is."""
    return text


class PolicyConfig(BaseModel):
    """What a fix may touch in one repository. Safe by default; `[repos.<name>.policy]` in healer.toml."""

    model_config = ConfigDict(extra="forbid")

    deny: list[str] = Field(default_factory=lambda: list(DEFAULT_DENY), description="Path globs never changed.")
    extra_deny: list[str] = Field(default_factory=list, description="Added to `deny` without repeating the defaults.")
    max_files: int = Field(default=10, ge=1)
    max_changed_lines: int = Field(default=400, ge=1)
    max_file_bytes: int = Field(default=200_000, ge=1)
    allow_binary: bool = False
    scan_secrets: bool = True
    unverified: Literal["draft", "refuse"] = "draft"
    verify_before: bool = Field(default=True, description="Run the tests on the base too, to show red -> green.")
    max_open_prs: int = Field(default=5, ge=1)

    @property
    def deny_globs(self) -> list[str]:
        return [*self.deny, *self.extra_deny]


class BotIdentity(BaseModel):
    name: str = "devops-healer[bot]"
    email: str = "devops-healer@users.noreply.invalid"


class RepoSpec(BaseModel):
    """One repository as the fixer sees it."""

    name: str
    path: Path | None = Field(default=None, description="A local clone to fetch from (never modified).")
    url: str | None = Field(default=None, description="A clone URL (https or a local bare repository).")
    default_branch: str = "main"
    test_command: str | None = None
    test_timeout_seconds: float = 600
    test_output_cap_bytes: int = 64_000
    sandbox: SandboxMode = Field(default="auto", description="How the test command is sandboxed (fixer/sandbox.py).")
    test_network: bool = Field(default=False, description="Whether the sandboxed test command reaches the network.")
    forge: Literal["local", "github"] = "local"
    github_repo: str | None = None
    policy: PolicyConfig = Field(default_factory=PolicyConfig)
    bot: BotIdentity = Field(default_factory=BotIdentity)

    @model_validator(mode="after")
    def _one_source(self) -> "RepoSpec":
        if (self.path is None) == (self.url is None):
            raise ValueError("a repository needs exactly one of `path` or `url`")
        return self


class Edit(BaseModel):
    """One structured edit: replace `old` by `new` (exactly one match), create a file, or delete one."""

    model_config = ConfigDict(extra="forbid")

    path: str = Field(description="Relative to the repository root.", max_length=1000)
    old: str | None = Field(default=None, description="Text to replace; must occur exactly once.")
    new: str | None = Field(default=None, description="Replacement text (with `old`).")
    create: str | None = Field(default=None, description="Whole content of a new (or rewritten) file.")
    delete: bool = Field(default=False, description="Delete the file.")

    @model_validator(mode="after")
    def _one_kind(self) -> "Edit":
        kinds = [self.old is not None, self.create is not None, self.delete]
        if sum(kinds) != 1:
            raise ValueError("each edit needs exactly one of: old+new, create, delete")
        if self.old is not None and self.new is None:
            raise ValueError("an edit with `old` needs `new` (use an empty string to remove text)")
        if self.old == "":
            raise ValueError("`old` must not be empty; use `create` to write a whole file")
        return self


class Change(BaseModel):
    """A change from an agent: a unified diff as `git diff` writes it, or structured edits."""

    model_config = ConfigDict(extra="forbid")

    diff: str | None = Field(default=None, max_length=2_000_000)
    edits: list[Edit] | None = Field(default=None, max_length=200)

    @model_validator(mode="after")
    def _one_form(self) -> "Change":
        if (self.diff is None) == (self.edits is None):
            raise ValueError("send exactly one of `diff` (a unified diff) or `edits` (a list of edits)")
        if self.diff is not None and not self.diff.strip():
            raise ValueError("`diff` is empty")
        if self.edits is not None and not self.edits:
            raise ValueError("`edits` is empty")
        return self


class FixRequest(BaseModel):
    """The incident's facts and the agent's change and explanation."""

    incident_id: str = Field(pattern=r"^INC-\d{8}-\d{4,}$")
    service: str
    severity: str
    title: str = Field(description="The incident's title (untrusted text).")
    summary: str = Field(description="One line for the PR title, from the agent.", max_length=200)
    explanation: str = Field(description="The root cause as the agent explained it.", max_length=20_000)
    risk: str | None = Field(default=None, max_length=5_000)
    trace_id: str
    change: Change
    agent: str = "agent"
    incident_url: str | None = None
    addresses: list[str] = Field(default_factory=list, description="Review findings this follow-up addresses.")

    def redacted(self, redact: Redact) -> "FixRequest":
        """The request with its text (the incident's and the agent's words) redacted; the change is kept as sent
        (the policy refuses one that adds a secret)."""
        return self.model_copy(
            update={
                "service": redact(self.service),
                "title": redact(self.title),
                "summary": redact(self.summary),
                "explanation": redact(self.explanation),
                "risk": redact(self.risk) if self.risk else self.risk,
                "trace_id": redact(self.trace_id),
                "agent": redact(self.agent),
                "addresses": [redact(item) for item in self.addresses],
            }
        )


class TestRun(BaseModel):
    __test__ = False  # not a pytest class

    command: str
    exit_code: int | None = Field(description="None when the run timed out.")
    timed_out: bool = False
    duration_seconds: float
    output: str = Field(description="Combined stdout and stderr, capped.")
    truncated: bool = False
    failed_tests: list[str] = Field(default_factory=list, description="Test ids parsed from the output.")

    @property
    def passed(self) -> bool:
        return self.exit_code == 0 and not self.timed_out

    def redacted(self, redact: Redact) -> "TestRun":
        """The run with its command, output and parsed test ids redacted (code under test printed them)."""
        return self.model_copy(
            update={
                "command": redact(self.command),
                "output": redact(self.output),
                "failed_tests": [redact(test) for test in self.failed_tests],
            }
        )


Verdict = Literal["green", "improved", "unchanged", "red", "timed_out", "not_run"]


class Verification(BaseModel):
    before: TestRun | None = None
    after: TestRun | None = None
    verdict: Verdict = "not_run"
    follow_up: bool = Field(default=False, description="Tested on top of the PR branch (a review round).")
    not_run_reason: str | None = Field(default=None, description="Why a configured test command did not run.")

    @property
    def verified(self) -> bool:
        """A first fix must make the tests better; a follow-up must not make them worse."""
        return self.verdict in ("green", "improved") or (self.follow_up and self.verdict == "unchanged")

    def summary(self) -> str:
        if self.after is None:
            return f"not_run: tests not run ({self.not_run_reason or 'no test_command for this repository'})"
        text = f"{self.verdict}: tests {describe_run(self.before)} before the change, {describe_run(self.after)} after"
        if self.before and self.after and self.before.failed_tests:
            gone = sorted(set(self.before.failed_tests) - set(self.after.failed_tests))
            if gone:
                text += f"; now passing: {', '.join(gone)}"
        return text


def describe_run(run: TestRun | None) -> str:
    if run is None:
        return "not run"
    if run.timed_out:
        return "timed out"
    if run.passed:
        return "passing"
    return f"{len(run.failed_tests)} failing" if run.failed_tests else f"failing (exit {run.exit_code})"


class PullRequestInfo(BaseModel):
    number: int
    url: str
    state: Literal["open", "closed", "merged"] = "open"
    draft: bool = False
    created: bool = Field(description="False when an open PR for the incident was updated instead.")
    head_sha: str
    branch: str


class FixResult(BaseModel):
    incident_id: str
    branch: str
    base_commit: str
    commit: str
    pushed: bool
    pull_request: PullRequestInfo | None = None
    verification: Verification
    files_changed: list[str]
    lines_added: int
    lines_removed: int
    steps: list[tuple[str, float]] = Field(default_factory=list, description="(step, seconds)")
    notes: list[str] = Field(default_factory=list)
    finished_at: datetime | None = None
