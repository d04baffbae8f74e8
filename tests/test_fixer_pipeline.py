"""The fix pipeline on real git repositories: branch, apply, verify, commit, push, one PR per incident."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from fixer.errors import BranchTakenOver, EditDoesNotMatch, OpenPullRequestCapReached, PatchDoesNotApply
from fixer.forge_local import LocalForge, close, diff, ensure_bare_remote, merge
from fixer.models import Change, Edit, FixRequest, PolicyConfig, RepoSpec
from fixer.pipeline import Fixer
from fixer.workspace import Workspace
from tests.conftest import MemoryPullRequests, git
from tests.fixer_repo import ADD_FIX, MUL_FIX, TEST_COMMAND, diff_for, make_calc_repo, snapshot


class Setup:
    def __init__(self, tmp_path: Path, **spec: object) -> None:
        self.tmp = tmp_path
        self.source = make_calc_repo(tmp_path / "calc")
        self.bare = ensure_bare_remote(str(self.source), tmp_path / "forge" / "calc.git")
        self.records = MemoryPullRequests()
        self.forge = LocalForge("calc", self.bare, self.records)
        self.workspace = Workspace(tmp_path / "workspaces")
        self.spec = RepoSpec(name="calc", path=self.source, test_command=TEST_COMMAND, **spec)  # type: ignore[arg-type]
        self.fixer = Fixer(self.workspace)

    def request(self, change: Change, incident: str = "INC-20261122-0001", **extra: object) -> FixRequest:
        fields: dict[str, object] = {
            "incident_id": incident,
            "service": "calc",
            "severity": "high",
            "title": "add returns the difference",
            "summary": "add adds",
            "explanation": "`add` subtracted its arguments.",
            "trace_id": "t-1",
            "change": change,
            "agent": "cline",
        }
        return FixRequest.model_validate(fields | extra)

    def diff(self, edits: dict[str, tuple[str, str]]) -> Change:
        return Change(diff=diff_for(self.source, edits, self.tmp))

    def remote_branches(self) -> list[str]:
        return git(self.bare, "for-each-ref", "--format=%(refname:short)", "refs/heads").split()


def assert_no_worktree_left(setup: Setup) -> None:
    """Neither an attempt folder nor git's record of a worktree outlives the attempt."""
    assert not list((setup.tmp / "workspaces").glob("attempt-*"))
    listed = git(setup.workspace.cache_dir(setup.spec), "worktree", "list", "--porcelain")
    assert listed.count("worktree ") == 1  # the cache itself


@pytest.fixture
def setup(tmp_path: Path) -> Setup:
    return Setup(tmp_path)


def test_diff_becomes_a_branch_a_commit_and_a_pull_request(setup: Setup) -> None:
    before = snapshot(setup.source)
    steps: list[str] = []
    result = setup.fixer.submit(
        setup.spec, setup.request(setup.diff(ADD_FIX)), setup.forge, lambda s, f: steps.append(s)
    )
    assert result.branch == "healer/INC-20261122-0001"
    assert result.files_changed == ["app/calc.py"] and (result.lines_added, result.lines_removed) == (1, 1)
    # Red -> improved: test_add failed before and passes now; test_mul (another fault) still fails.
    assert result.verification.verdict == "improved"
    assert result.verification.before is not None and result.verification.after is not None
    assert result.verification.before.failed_tests == ["tests/test_calc.py::test_add", "tests/test_calc.py::test_mul"]
    assert result.verification.after.failed_tests == ["tests/test_calc.py::test_mul"]
    assert steps[0] == "sync" and "test-before" in steps and steps[-1] == "done"
    # One commit by the bot, with trailers, pushed to the forge.
    log = git(setup.bare, "log", "--format=%an%n%B", "-1", "healer/INC-20261122-0001")
    assert "devops-healer[bot]" in log
    assert "Incident: INC-20261122-0001" in log and "Trace-Id: t-1" in log
    assert git(setup.bare, "rev-list", "--count", "main..healer/INC-20261122-0001").strip() == "1"
    assert git(setup.bare, "rev-parse", "healer/INC-20261122-0001").strip() == result.commit
    # One PR, titled as reviewers expect, with the hidden marker and the verification output.
    (pr,) = setup.records.list_prs()
    assert pr.title == "fix(calc): add adds [INC-20261122-0001]"
    assert "<!-- healer:incident=INC-20261122-0001 -->" in pr.body
    assert "test_add" in pr.body and not pr.draft and pr.labels == ["healer", "severity:high"]
    # The user's clone is untouched, byte for byte; no worktree is left behind.
    assert snapshot(setup.source) == before
    assert not list((setup.tmp / "workspaces").glob("attempt-*"))
    assert "healer/INC-20261122-0001" not in git(setup.workspace.cache_dir(setup.spec), "branch", "--list")


def test_edits_work_and_a_resubmission_updates_the_same_pull_request(setup: Setup) -> None:
    first = setup.fixer.submit(
        setup.spec,
        setup.request(Change(edits=[Edit(path="app/calc.py", old="return a - b", new="return a + b")])),
        setup.forge,
    )
    assert first.pull_request is not None and first.pull_request.created
    second = setup.fixer.submit(
        setup.spec,
        setup.request(
            Change(edits=[Edit(path="app/calc.py", old="return a * b + 1", new="return a * b")]),
            summary="mul multiplies",
        ),
        setup.forge,
    )
    assert second.pull_request is not None and not second.pull_request.created
    assert second.pull_request.number == first.pull_request.number
    assert len(setup.records.list_prs()) == 1
    assert git(setup.bare, "rev-list", "--count", "main..healer/INC-20261122-0001").strip() == "2"
    assert second.verification.verdict == "green"  # both faults fixed on the branch now
    pr = setup.records.get(1)
    assert pr is not None
    assert pr.title.startswith("fix(calc): add adds")  # a review round keeps the title the reviewer read
    assert "### Round 1: mul multiplies" in pr.body


def test_rewriting_the_body_keeps_another_bots_block(setup: Setup) -> None:
    setup.fixer.submit(setup.spec, setup.request(setup.diff(ADD_FIX)), setup.forge)
    coderabbit = (
        "<!-- This is an auto-generated comment: release notes by coderabbit.ai -->\n## Summary by CodeRabbit\n"
        "* Fixed addition\n<!-- end of auto-generated comment: release notes by coderabbit.ai -->"
    )
    pr = setup.records.get(1)
    assert pr is not None
    setup.records.update(1, body=pr.body + "\n\n" + coderabbit)
    setup.fixer.submit(setup.spec, setup.request(setup.diff(MUL_FIX)), setup.forge)
    body = setup.records.get(1).body  # type: ignore[union-attr]
    assert coderabbit in body and body.count("<!-- healer:body:start -->") == 1


def test_patch_that_does_not_apply_names_hunk_file_line_and_current_text(setup: Setup) -> None:
    bad = (
        "--- a/app/calc.py\n+++ b/app/calc.py\n@@ -4,2 +4,2 @@\n"
        " def add(a: int, b: int) -> int:\n-    return b - a\n+    return a + b\n"
    )
    with pytest.raises(PatchDoesNotApply) as caught:
        setup.fixer.submit(setup.spec, setup.request(Change(diff=bad)), setup.forge)
    message = str(caught.value)
    assert "hunk 1 at app/calc.py:4" in message
    assert "return a - b" in message  # the current text, so the agent can retry
    assert "get_repository_context with file_path=app/calc.py" in message
    assert setup.remote_branches() == ["main"]
    assert_no_worktree_left(setup)


def test_edit_that_matches_nothing_shows_the_closest_text(setup: Setup) -> None:
    with pytest.raises(EditDoesNotMatch, match="closest text") as caught:
        setup.fixer.submit(
            setup.spec,
            setup.request(Change(edits=[Edit(path="app/calc.py", old="return a - c", new="x")])),
            setup.forge,
        )
    assert "return a - b" in str(caught.value)


@pytest.mark.parametrize(
    ("command", "verdict"),
    [
        (f"{sys.executable} -c 'raise SystemExit(3)'", "red"),  # the suite fails after the change
        (f"{sys.executable} -c 'import time; time.sleep(30)'", "timed_out"),  # killed by the time limit
    ],
)
def test_unverified_change_opens_a_draft_with_the_output(tmp_path: Path, command: str, verdict: str) -> None:
    setup = Setup(tmp_path, test_timeout_seconds=1.5, policy=PolicyConfig(verify_before=False))
    setup.spec = setup.spec.model_copy(update={"test_command": command})
    result = setup.fixer.submit(setup.spec, setup.request(setup.diff(ADD_FIX)), setup.forge)
    assert result.verification.verdict == verdict
    pr = setup.records.get(1)
    assert pr is not None and pr.draft and "draft" in pr.body
    assert_no_worktree_left(setup)


def test_refuse_unverified_when_the_policy_says_so(tmp_path: Path) -> None:
    from fixer.errors import VerificationRefused

    setup = Setup(tmp_path, policy=PolicyConfig(unverified="refuse", verify_before=False))
    setup.spec = setup.spec.model_copy(update={"test_command": f"{sys.executable} -c 'raise SystemExit(1)'"})
    with pytest.raises(VerificationRefused, match="refuses unverified"):
        setup.fixer.submit(setup.spec, setup.request(setup.diff(ADD_FIX)), setup.forge)
    assert setup.remote_branches() == ["main"] and setup.records.list_prs() == []
    assert_no_worktree_left(setup)


def test_a_person_who_pushes_to_the_branch_takes_it_over(setup: Setup) -> None:
    setup.fixer.submit(setup.spec, setup.request(setup.diff(ADD_FIX)), setup.forge)
    human = setup.tmp / "human"
    git(setup.tmp, "clone", "-q", str(setup.bare), str(human))
    git(human, "checkout", "-q", "healer/INC-20261122-0001")
    (human / "NOTES.md").write_text("taking this over\n")
    git(human, "add", "-A")
    git(human, "commit", "-q", "-m", "mine now")  # as Dev <dev@example.com>, not the bot
    git(human, "push", "-q", "origin", "healer/INC-20261122-0001")
    head = git(setup.bare, "rev-parse", "healer/INC-20261122-0001")
    with pytest.raises(BranchTakenOver, match=r"dev@example\.com"):
        setup.fixer.submit(setup.spec, setup.request(setup.diff(MUL_FIX)), setup.forge)
    assert git(setup.bare, "rev-parse", "healer/INC-20261122-0001") == head  # never force-pushed
    assert "will not push here any more" in setup.records.comments(1)[0].body


@pytest.mark.parametrize("identity", ["author", "committer"])
def test_a_persons_commit_on_the_branch_is_never_forced_over_even_with_no_pr_open(setup: Setup, identity: str) -> None:
    # The bot's PR was closed, a person kept working on its branch; a new attempt must not force over it.
    setup.fixer.submit(setup.spec, setup.request(setup.diff(ADD_FIX)), setup.forge)
    close(setup.records, 1)
    human = setup.tmp / "human"
    git(setup.tmp, "clone", "-q", str(setup.bare), str(human))
    git(human, "checkout", "-q", "healer/INC-20261122-0001")
    (human / "NOTES.md").write_text("still on it\n")
    git(human, "add", "-A")
    # As the bot's author with a person committing (a cherry-pick, a rebase), or as the person outright.
    who = ["-c", "user.name=Dev", "-c", "user.email=dev@example.com"]
    bot = "devops-healer[bot] <devops-healer@users.noreply.invalid>"
    author = ["--author", bot] if identity == "committer" else []
    git(human, *who, "commit", "-q", *author, "-m", "mine now")
    git(human, "push", "-q", "origin", "healer/INC-20261122-0001")
    head = git(setup.bare, "rev-parse", "healer/INC-20261122-0001")
    with pytest.raises(BranchTakenOver, match=r"dev@example\.com"):
        setup.fixer.submit(setup.spec, setup.request(setup.diff(MUL_FIX)), setup.forge)
    assert git(setup.bare, "rev-parse", "healer/INC-20261122-0001") == head


def test_the_open_pull_request_cap_holds_a_new_fix_back(tmp_path: Path) -> None:
    setup = Setup(tmp_path, policy=PolicyConfig(max_open_prs=1, verify_before=False))
    setup.fixer.submit(setup.spec, setup.request(setup.diff(ADD_FIX)), setup.forge)
    with pytest.raises(OpenPullRequestCapReached, match="cap"):
        setup.fixer.submit(setup.spec, setup.request(setup.diff(MUL_FIX), incident="INC-20261122-0002"), setup.forge)
    assert setup.remote_branches() == ["healer/INC-20261122-0001", "main"]
    # The incident that already has a PR may still be updated.
    setup.fixer.submit(setup.spec, setup.request(setup.diff(MUL_FIX)), setup.forge)


def test_local_review_merges_and_closes(setup: Setup) -> None:
    setup.fixer.submit(setup.spec, setup.request(setup.diff(ADD_FIX)), setup.forge)
    pr = setup.records.get(1)
    assert pr is not None
    assert "-    return a - b" in diff(setup.bare, pr) and "+    return a + b" in diff(setup.bare, pr)
    merged = merge(setup.bare, setup.records, 1, by="ana")
    assert merged.state == "merged" and merged.merge_commit
    assert git(setup.bare, "show", "main:app/calc.py").count("return a + b") == 1
    parents = git(setup.bare, "log", "-1", "--format=%P", "main").split()
    assert len(parents) == 2  # a real merge commit
    # A merged PR still shows the change it made (main now contains its head).
    shown = diff(setup.bare, merged)
    assert "-    return a - b" in shown and "+    return a + b" in shown
    setup.fixer.submit(setup.spec, setup.request(setup.diff(MUL_FIX), incident="INC-20261122-0002"), setup.forge)
    assert close(setup.records, 2).state == "closed"
    with pytest.raises(Exception, match="already closed"):
        close(setup.records, 2)


def test_planned_paths_reach_git_as_names_not_patterns(tmp_path: Path) -> None:
    # Paths reach `git add` as literal names. Deleting a file called "[R]EADME.md" must not also stage
    # README.md, which the glob [R]EADME.md matches and which the test run rewrote.
    setup = Setup(tmp_path)
    (setup.source / "[R]EADME.md").write_text("odd name\n")
    git(setup.source, "add", "-A")
    git(setup.source, "commit", "-q", "-m", "an odd file name")
    setup.bare = ensure_bare_remote(str(setup.source), tmp_path / "forge" / "calc2.git")
    setup.forge = LocalForge("calc", setup.bare, setup.records)
    rewrite = "import pathlib; pathlib.Path('README.md').write_text('rewritten by the test run')"
    setup.spec = setup.spec.model_copy(update={"test_command": f'{sys.executable} -c "{rewrite}"'})
    change = Change(
        edits=[Edit(path="app/calc.py", old="return a - b", new="return a + b"), Edit(path="[R]EADME.md", delete=True)]
    )
    result = setup.fixer.submit(setup.spec, setup.request(change), setup.forge)
    changed = git(setup.bare, "diff", "--name-only", "main", result.commit).split("\n")
    assert sorted(filter(None, changed)) == ["[R]EADME.md", "app/calc.py"]


def test_a_test_run_that_edits_tracked_files_changes_nothing_in_the_commit(tmp_path: Path) -> None:
    # The run before the change appends to the very file the diff touches; the diff still applies to
    # the base as committed, and neither run's writes reach the commit.
    setup = Setup(tmp_path)
    touch = "open('app/calc.py', 'a').write('# written by the test run\\n')"
    setup.spec = setup.spec.model_copy(update={"test_command": f'{sys.executable} -c "{touch}"'})
    result = setup.fixer.submit(setup.spec, setup.request(setup.diff(ADD_FIX)), setup.forge)
    committed = git(setup.bare, "show", f"{result.commit}:app/calc.py")
    assert "return a + b" in committed and "written by the test run" not in committed


def test_a_test_command_that_cannot_start_is_a_configuration_error_not_a_draft(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An MCP client's minimal PATH without `python`: no red verdict, no push, no PR; the message names
    the command and the PATH it was looked up in."""
    from fixer.errors import TestCommandNotFound

    setup = Setup(tmp_path)
    bare_path = tmp_path / "empty-bin"
    bare_path.mkdir()
    monkeypatch.setenv("PATH", f"{bare_path}:/usr/bin:/bin")
    setup.spec = setup.spec.model_copy(update={"test_command": "healer-no-such-python -m pytest -q"})
    with pytest.raises(TestCommandNotFound) as caught:
        setup.fixer.submit(setup.spec, setup.request(setup.diff(ADD_FIX)), setup.forge)
    message = caught.value.message
    assert "`healer-no-such-python -m pytest -q`" in message and f"PATH={bare_path}:/usr/bin:/bin" in message
    assert "not_run" in message and caught.value.permanent
    assert setup.remote_branches() == ["main"] and setup.records.list_prs() == []
    assert_no_worktree_left(setup)


def test_a_test_script_in_the_repository_is_found_by_its_relative_path(tmp_path: Path) -> None:
    from fixer.errors import TestCommandNotFound

    setup = Setup(tmp_path, policy=PolicyConfig(verify_before=False))
    setup.spec = setup.spec.model_copy(update={"test_command": "./missing-run-tests.sh"})
    with pytest.raises(TestCommandNotFound, match=r"missing-run-tests\.sh"):
        setup.fixer.submit(setup.spec, setup.request(setup.diff(ADD_FIX)), setup.forge)
