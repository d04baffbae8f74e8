"""Reading a worktree's commit without a git process agrees with git, and falls back when it cannot."""

from __future__ import annotations

from pathlib import Path

from fixer.gitcmd import head_commit
from tests.conftest import git, make_repo


def test_a_detached_worktree_reads_the_commit_git_names(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"a.txt": "one\n"})
    work = tmp_path / "work"
    git(repo, "worktree", "add", "-q", "--detach", str(work), "main")
    (work / "a.txt").write_text("two\n")
    git(work, "commit", "-q", "-am", "second")  # HEAD moves on: the file read must follow it
    assert head_commit(work) == git(work, "rev-parse", "HEAD").strip()
    assert head_commit(work) != git(repo, "rev-parse", "main").strip()


def test_a_branch_checked_out_is_left_to_git(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"a.txt": "one\n"})
    work = tmp_path / "work"
    git(repo, "worktree", "add", "-q", "-b", "topic", str(work), "main")  # HEAD is "ref: refs/heads/topic"
    assert head_commit(work) == git(work, "rev-parse", "HEAD").strip()
    assert head_commit(repo) == git(repo, "rev-parse", "HEAD").strip()  # a main checkout: .git is a folder
