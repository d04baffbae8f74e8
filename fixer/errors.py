"""The fixer's exception tree (fixer/ knows nothing of server/; the faces translate these).

FixerError                       (.permanent: retrying the same change fails the same way)
├── ChangeRefused                the change itself cannot be used        permanent
│   ├── PolicyViolation          a policy rule refuses it (.rule, .path)
│   ├── PathOutsideRepo          a path leaves the repository (in a change, or in a read: the
│   │                            server's repository context raises it too, with reading=True)
│   ├── PatchDoesNotApply        a diff hunk does not match the file (.path, .line, .current_text)
│   ├── EditDoesNotMatch         a search-and-replace edit found 0 or 2+ matches
│   └── InvalidChange            not a diff, empty, malformed
├── VerificationRefused          unverified and the policy refuses drafts        permanent
├── SandboxUnavailable           the sandbox is required and bwrap is missing    permanent
├── TestCommandNotFound          the test command cannot start (configuration)   permanent
├── OpenPullRequestCapReached    too many open bot PRs in the repository         transient
├── BranchTakenOver              someone else committed on the bot branch        permanent
├── WorkspaceError               git failed locally (clone, fetch, worktree)     transient
└── ForgeError                   the forge refused or failed                     transient
    ├── ForgeAuthError           bad or expired credentials                      permanent
    └── ForgeRateLimited         rate limited (.retry_after seconds)             transient
"""

from __future__ import annotations


class FixerError(Exception):
    """Base of every error the fixer raises on purpose; the message is written for the agent."""

    permanent = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ChangeRefused(FixerError):
    permanent = True


class PolicyViolation(ChangeRefused):
    def __init__(self, rule: str, path: str | None, detail: str) -> None:
        where = f" ({path})" if path else ""
        super().__init__(
            f"refused by policy rule `{rule}`{where}: {detail}. Nothing was written; change the fix so it "
            "does not need this, or ask a person to make that part of the change."
        )
        self.rule = rule
        self.path = path
        self.detail = detail


class PathOutsideRepo(ChangeRefused):
    """A path that leaves the repository: in a change (a policy refusal) or, ``reading``, in a read."""

    def __init__(self, path: str, reason: str, *, reading: bool = False) -> None:
        if reading:
            message = (
                f"path {path!r} is refused: {reason}. Pass a path relative to the repository root, such as app/db.py."
            )
        else:
            message = (
                f"refused by policy rule `path-inside-repo` ({path}): {reason}. Use paths relative to the "
                "repository root, as get_repository_context shows them."
            )
        super().__init__(message)
        self.rule = "path-inside-repo"
        self.path = path
        self.reason = reason


class PatchDoesNotApply(ChangeRefused):
    def __init__(self, path: str, line: int | None, hunk: int | None, reason: str, current_text: str) -> None:
        where = f"{path}:{line}" if line else path
        which = f"hunk {hunk}" if hunk is not None else "the change"
        super().__init__(
            f"the patch does not apply: {which} at {where}: {reason}. The file there currently reads:\n"
            f"{current_text}\n"
            f"Call get_repository_context with file_path={path}"
            + (f" and line={line}" if line else "")
            + " and resend the change against that content (or send structured edits)."
        )
        self.path = path
        self.line = line
        self.hunk = hunk
        self.current_text = current_text


class EditDoesNotMatch(ChangeRefused):
    def __init__(self, path: str, index: int, found: int, closest: str | None) -> None:
        if found == 0:
            what = "was not found"
            hint = f" The closest text in the file is:\n{closest}\n" if closest else " "
        else:
            what = f"matches {found} places; it must match exactly one"
            hint = " Include more surrounding lines in `old` so it is unique. "
        super().__init__(
            f"edit {index} for {path}: `old` {what}.{hint}"
            f"Call get_repository_context with file_path={path} and resend the edit with `old` copied exactly."
        )
        self.path = path
        self.index = index
        self.found = found


class InvalidChange(ChangeRefused):
    pass


class VerificationRefused(FixerError):
    permanent = True


class SandboxUnavailable(FixerError):
    """bubblewrap is missing or cannot create namespaces, and the repository requires the sandbox."""

    permanent = True


class TestCommandNotFound(FixerError):
    """The repository's test command names a program that is not there: a configuration error, not a red run."""

    __test__ = False  # not a pytest class
    permanent = True

    def __init__(self, command: str, program: str, path: str) -> None:
        super().__init__(
            f"the test command `{command}` cannot start: `{program}` was not found on the PATH the tests run with "
            f"(PATH={path or '(empty)'}). Verification: not_run; nothing was pushed and no pull request was opened. "
            "Give test_command an absolute path in healer.toml, or start devops-healer with a PATH that has it, "
            "then retry the incident."
        )
        self.command = command
        self.program = program
        self.path = path


class OpenPullRequestCapReached(FixerError):
    def __init__(self, repo: str, cap: int) -> None:
        super().__init__(
            f"{repo} already has {cap} open pull requests from devops-healer (the cap); this fix is held "
            "back until one of them is merged or closed."
        )
        self.repo = repo
        self.cap = cap


class BranchTakenOver(FixerError):
    permanent = True

    def __init__(self, branch: str, author: str) -> None:
        super().__init__(
            f"branch {branch} has commits by {author}, who took it over; devops-healer no longer pushes to it "
            "and left a comment on the pull request instead."
        )
        self.branch = branch
        self.author = author


class WorkspaceError(FixerError):
    pass


class ForgeError(FixerError):
    pass


class ForgeAuthError(ForgeError):
    permanent = True


class ForgeRateLimited(ForgeError):
    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after
