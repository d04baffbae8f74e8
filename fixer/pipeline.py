"""The fix pipeline: sync, plan and police the change, test before and after, commit, push, open the PR.

Everything that can refuse a change (parsing, policy, applicability, the open-PR cap) runs
before anything is written. What is written afterwards lives in a throwaway worktree that is
removed whatever happens; the only lasting effects are the pushed branch and the pull request.
"""

import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from fixer import change, gitcmd, policy, pr_text
from fixer.errors import BranchTakenOver, OpenPullRequestCapReached, SandboxUnavailable, VerificationRefused
from fixer.forge import Forge, PullRequest, PullRequestDraft
from fixer.models import FixRequest, FixResult, PullRequestInfo, Redact, RepoSpec, TestRun, Verification, keep
from fixer.sandbox import SandboxSpec
from fixer.verify import Runner, SubprocessRunner, verification
from fixer.workspace import Workspace, branch_for

Progress = Callable[[str, float], None]
#: Told the commit about to be pushed, before the push: the forge's webhook for it may arrive before
#: ``submit`` returns, and must be recognised as the bot's own push.
BeforePush = Callable[[str], None]


def _no_progress(step: str, fraction: float) -> None:
    del step, fraction


def commit_message(request: FixRequest) -> str:
    explanation = request.explanation.strip()
    first = explanation.split("\n\n", 1)[0][:1500]
    return f"{pr_text.title(request)}\n\n{first}\n\nIncident: {request.incident_id}\nTrace-Id: {request.trace_id}\n"


class Fixer:
    """``hidden``: paths the test run must not see besides the workspace (HEALER_HOME, the config and
    database files); the workspace root (clone caches, other attempts' worktrees) is always hidden.
    ``redact``: applied to the request's text and every test run's output before either reaches a
    commit, the pull request, an error or the result."""

    def __init__(
        self, workspace: Workspace, runner: Runner | None = None, *, hidden: Sequence[Path] = (), redact: Redact = keep
    ) -> None:
        self.workspace = workspace
        self.runner: Runner = runner or SubprocessRunner()
        self.hidden = tuple(hidden)
        self.redact = redact

    def submit(
        self,
        spec: RepoSpec,
        request: FixRequest,
        forge: Forge,
        progress: Progress | None = None,
        *,
        open_pull_request: bool = True,
        before_push: BeforePush | None = None,
    ) -> FixResult:
        report = progress or _no_progress
        request = request.redacted(self.redact)
        steps: list[tuple[str, float]] = []
        running, since = "sync", time.monotonic()

        def step(name: str, fraction: float) -> None:
            """Close the running step (recording its duration) and start ``name``."""
            nonlocal running, since
            now = time.monotonic()
            steps.append((running, round(now - since, 3)))
            running, since = name, now
            report(name, fraction)

        branch = branch_for(request.incident_id)
        auth = forge.git_auth_env()
        secrets = list(auth.values())
        with self.workspace.incident_lock(request.incident_id):
            report("sync", 0.05)
            cache = self.workspace.sync(spec, forge.remote_url(), auth, secrets)
            base = self.workspace.base(cache, spec, request.incident_id)
            existing = forge.find_open(request.incident_id, branch)
            start = base.head if (base.branch_exists and existing is not None) else base.commit
            if base.branch_exists:
                # Whether or not a PR is open, a branch that carries someone else's commit is theirs now:
                # the push below would otherwise force over it.
                self._refuse_if_taken_over(cache, spec, forge, existing, branch, base.commit, base.head)
            step("check", 0.15)
            the_plan = change.plan(cache, start, request.change)
            policy.check(the_plan, spec.policy, cache, start)
            if existing is None and forge.count_open_bot_prs() >= spec.policy.max_open_prs:
                raise OpenPullRequestCapReached(spec.name, spec.policy.max_open_prs)
            with self.workspace.worktree(cache, start) as tree:
                if the_plan.diff is not None and spec.test_command and spec.policy.verify_before:
                    change.check_diff(tree, the_plan.diff)  # before a test run is spent on it
                before: TestRun | None = None
                untested: str | None = None  # why a configured test command could not run
                if spec.test_command and spec.policy.verify_before:
                    step("test-before", 0.25)
                    before, untested = self._test(spec, tree)
                    # The change goes onto the base as committed, not onto whatever the run left behind.
                    gitcmd.run(tree, "reset", "--hard", "--quiet", "HEAD")
                step("apply", 0.45)
                change.apply(tree, the_plan)
                after: TestRun | None = None
                if spec.test_command and untested is None:
                    step("test-after", 0.55)
                    after, untested = self._test(spec, tree)
                result = verification(
                    before, after, follow_up=start == base.head and base.branch_exists, not_run_reason=untested
                )
                tested = after is not None or untested is not None
                if tested and not result.verified and spec.policy.unverified == "refuse":
                    raise VerificationRefused(
                        f"the tests did not confirm the fix ({result.summary()}); this repository refuses unverified "
                        f"changes. Output:\n{after.output[-2000:] if after else untested}"
                    )
                step("commit", 0.75)
                env = {
                    "GIT_AUTHOR_NAME": spec.bot.name,
                    "GIT_AUTHOR_EMAIL": spec.bot.email,
                    "GIT_COMMITTER_NAME": spec.bot.name,
                    "GIT_COMMITTER_EMAIL": spec.bot.email,
                }
                # Only the planned paths: whatever the test run left in the worktree is not part of the fix.
                if the_plan.diff is None:  # a diff is staged by `git apply --index`, exactly the paths git read
                    gitcmd.run(tree, "add", "--all", "--", *the_plan.paths)
                gitcmd.run(
                    tree,
                    "commit",
                    "--quiet",
                    "--no-verify",
                    "-F",
                    "-",
                    env=env,
                    input_bytes=commit_message(request).encode(),
                )
                commit = gitcmd.head_commit(tree)
                step("push", 0.85)
                if before_push is not None:
                    before_push(commit)
                # --force-with-lease: overwrite the bot branch only if it is where we last saw it
                # (or still absent); a commit pushed meanwhile by anyone makes the push fail.
                lease = base.head if base.branch_exists else ""
                gitcmd.run(
                    tree,
                    "push",
                    "--quiet",
                    f"--force-with-lease=refs/heads/{branch}:{lease}",
                    "forge",
                    f"HEAD:refs/heads/{branch}",
                    env=auth,
                    timeout=600,
                    secrets=secrets,
                )
            files = [(item.path, len(item.added), item.removed) for item in the_plan.files]
            if not open_pull_request:
                step("done", 1.0)
                return FixResult(
                    incident_id=request.incident_id,
                    branch=branch,
                    base_commit=base.commit,
                    commit=commit,
                    pushed=True,
                    pull_request=None,
                    verification=result,
                    files_changed=the_plan.paths,
                    lines_added=the_plan.lines_added,
                    lines_removed=the_plan.lines_removed,
                    steps=steps,
                    finished_at=datetime.now(UTC),
                )
            step("pull-request", 0.95)
            pull = self._open_or_update(forge, request, spec, branch, result, files, commit, existing=existing)
            step("done", 1.0)
            return FixResult(
                incident_id=request.incident_id,
                branch=branch,
                base_commit=base.commit,
                commit=commit,
                pushed=True,
                pull_request=PullRequestInfo(
                    number=pull.number,
                    url=pull.url,
                    state=pull.state,
                    draft=pull.draft,
                    created=existing is None,
                    head_sha=commit,
                    branch=branch,
                ),
                verification=result,
                files_changed=the_plan.paths,
                lines_added=the_plan.lines_added,
                lines_removed=the_plan.lines_removed,
                steps=steps,
                finished_at=datetime.now(UTC),
            )

    def run_tests(self, spec: RepoSpec, tree: Path) -> tuple[TestRun | None, str | None]:
        """The repository's tests in ``tree``, in the same sandbox as a fix's (a revert's too)."""
        return self._test(spec, tree)

    def _test(self, spec: RepoSpec, tree: Path) -> tuple[TestRun | None, str | None]:
        """The run, or why it could not run: an unavailable sandbox that the repository requires means
        the change is not tested at all, never tested bare."""
        assert spec.test_command is not None
        box = SandboxSpec(
            writable=(tree,),
            hidden=(*self.hidden, self.workspace.root),
            # git follows the worktree's .git file: a run that rewrote it would point the commit and the
            # push that come after it at a repository (and hooks) of its own making.
            readonly=(tree / ".git",),
            network=spec.test_network,
        )
        try:
            run = self.runner.run(
                spec.test_command,
                tree,
                timeout=spec.test_timeout_seconds,
                output_cap=spec.test_output_cap_bytes,
                sandbox=box,
                mode=spec.sandbox,
            )
        except SandboxUnavailable as exc:
            return None, exc.message
        return run.redacted(self.redact), None

    def _refuse_if_taken_over(
        self, cache: Path, spec: RepoSpec, forge: Forge, existing: PullRequest | None, branch: str, base: str, head: str
    ) -> None:
        others = [a for a in self.workspace.authors_since(cache, base, head) if a != spec.bot.email]
        if others:
            if existing is not None:
                forge.comment(
                    existing.number,
                    f"devops-healer has a new change for this incident, but {others[0]} has pushed to `{branch}`, so "
                    "the bot will not push here any more. The change was not applied; a person owns this branch now.",
                )
            raise BranchTakenOver(branch, others[0])

    def _open_or_update(
        self,
        forge: Forge,
        request: FixRequest,
        spec: RepoSpec,
        branch: str,
        result: Verification,
        files: list[tuple[str, int, int]],
        commit: str,
        *,
        existing: PullRequest | None,
    ) -> PullRequest:
        """Open the pull request, or add this change to the open one as a review round.

        A round keeps the title and the first fix's account a reviewer has read; the round itself is
        added below them, so the description always covers the whole diff."""
        found = existing or forge.find_open(request.incident_id, branch)
        draft = not result.verified
        if found is not None:
            section = pr_text.bot_section(request, result, files, previous=found.body, commit=commit)
            return forge.update(
                found.number,
                title=found.title or pr_text.title(request),
                body=pr_text.body(section, request.incident_id, found.body),
                draft=draft,
            )
        section = pr_text.bot_section(request, result, files)
        labels = ["healer", f"severity:{request.severity}"]
        return forge.create(
            PullRequestDraft(
                title=pr_text.title(request),
                body=pr_text.body(section, request.incident_id),
                head=branch,
                base=spec.default_branch,
                draft=draft,
                labels=labels,
                incident_id=request.incident_id,
            )
        )
