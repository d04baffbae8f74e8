"""A revert pull request for a merged fix that regressed: the merge undone, tested, never merged by the bot.

``git revert -m 1`` of a merge commit (its first parent is the base branch as it was), or a plain
``git revert`` of a squash or fast-forward merge (one parent), in a detached worktree at the forge's
default branch; the repository's tests run before and after, in the same sandbox as any fix; the
result goes to ``healer/revert-<incident>`` and a pull request labelled ``healer`` and ``revert``.
Its body names the incident and the original pull request; a comment on the original names it.
"""

from __future__ import annotations

from pydantic import BaseModel

from fixer import gitcmd
from fixer.errors import WorkspaceError
from fixer.forge import Forge, PullRequestDraft
from fixer.models import RepoSpec, TestRun, Verification
from fixer.pipeline import Fixer
from fixer.verify import verification
from fixer.workspace import BRANCH_PREFIX, branch_for

#: The hidden marker of a revert pull request: not the incident's own marker, so the next fix opens its own PR.
REVERT_MARKER = "<!-- healer:revert={incident} -->"


class RevertRequest(BaseModel):
    incident_id: str
    merge_commit: str
    original_number: int
    original_url: str
    why: str


class RevertResult(BaseModel):
    branch: str
    commit: str
    number: int
    url: str
    parents: int
    verification: Verification


def revert_branch(incident_id: str) -> str:
    return branch_for(incident_id).replace(BRANCH_PREFIX, f"{BRANCH_PREFIX}revert-", 1)


def open_revert(fixer: Fixer, spec: RepoSpec, request: RevertRequest, forge: Forge) -> RevertResult:
    """Revert the merge on a new branch, test it like a fix, push, open the PR and link both ways."""
    branch = revert_branch(request.incident_id)
    merge = gitcmd.safe_sha(request.merge_commit)
    auth = forge.git_auth_env()
    secrets = list(auth.values())
    workspace = fixer.workspace
    with workspace.incident_lock(request.incident_id):
        cache = workspace.sync(spec, forge.remote_url(), auth, secrets)
        base = workspace.forge_base(cache, spec, forge.remote_url(), auth)
        parents = len(gitcmd.out(cache, "rev-list", "--parents", "-n", "1", merge).split()) - 1
        if gitcmd.run(cache, "merge-base", "--is-ancestor", merge, base, check=False).returncode != 0:
            raise WorkspaceError(f"the merge commit {merge[:12]} is not on {spec.default_branch}; nothing to revert")
        with workspace.worktree(cache, base) as tree:
            before: TestRun | None = None
            untested: str | None = None
            if spec.test_command and spec.policy.verify_before:
                before, untested = fixer.run_tests(spec, tree)
                gitcmd.run(tree, "reset", "--hard", "--quiet", "HEAD")
            env = {
                "GIT_AUTHOR_NAME": spec.bot.name,
                "GIT_AUTHOR_EMAIL": spec.bot.email,
                "GIT_COMMITTER_NAME": spec.bot.name,
                "GIT_COMMITTER_EMAIL": spec.bot.email,
            }
            mainline = ["-m", "1"] if parents > 1 else []
            done = gitcmd.run(tree, "revert", "--no-edit", *mainline, merge, env=env, check=False)
            if done.returncode != 0:
                raise WorkspaceError(
                    f"git revert of {merge[:12]} does not apply on {spec.default_branch} (a later change touches "
                    "the same lines); revert it by hand"
                )
            gitcmd.run(
                tree,
                "commit",
                "--amend",
                "--quiet",
                "--no-verify",
                "-F",
                "-",
                env=env,
                input_bytes=_message(request, merge).encode(),
            )
            after: TestRun | None = None
            if spec.test_command and untested is None:
                after, untested = fixer.run_tests(spec, tree)
            result = verification(before, after, not_run_reason=untested)
            commit = gitcmd.head_commit(tree)
            gitcmd.run(
                tree,
                "push",
                "--quiet",
                "--force",
                "forge",
                f"HEAD:refs/heads/{branch}",
                env=auth,
                timeout=600,
                secrets=secrets,
            )
    pull = forge.create(
        PullRequestDraft(
            title=f"Revert the fix for {request.incident_id} (#{request.original_number}): it regressed",
            body=fixer.redact(_body(request, merge, parents, result)),
            head=branch,
            base=spec.default_branch,
            draft=False,
            labels=["healer", "revert"],
            incident_id=f"revert-{request.incident_id}",
        )
    )
    forge.comment(
        request.original_number,
        fixer.redact(
            f"devops-healer: {request.incident_id} regressed after this pull request was deployed "
            f"({request.why}). A revert is proposed in #{pull.number} ({pull.url}); the bot will not merge it."
        ),
    )
    return RevertResult(
        branch=branch, commit=commit, number=pull.number, url=pull.url, parents=parents, verification=result
    )


def _message(request: RevertRequest, merge: str) -> str:
    return (
        f"Revert the fix for {request.incident_id} (#{request.original_number})\n\n"
        f"This reverts commit {merge}: the fault came back after the deploy.\n"
    )


def _body(request: RevertRequest, merge: str, parents: int, result: Verification) -> str:
    how = "`git revert -m 1` of the merge commit" if parents > 1 else "`git revert` of the squashed commit"
    return "\n".join(
        [
            f"Reverts #{request.original_number} ({request.original_url}), the fix for incident "
            f"{request.incident_id}: it regressed after the deploy.",
            "",
            f"- Why: {request.why}",
            f"- How: {how} `{merge[:12]}`",
            f"- Tests: {result.summary()}",
            "",
            "devops-healer never merges a revert: a person decides. The incident is back with the agents, "
            "with this pull request named.",
            "",
            REVERT_MARKER.format(incident=request.incident_id),
        ]
    )
