"""Input that reaches git can never be read as an option or leave the repository, whichever layer stops it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from pydantic import ValidationError

from fixer import gitread
from fixer.errors import FixerError
from fixer.forge_local import LocalForge, ensure_bare_remote
from fixer.gitcmd import safe_ref
from fixer.models import Change, Edit, RepoSpec
from fixer.pipeline import Fixer
from fixer.workspace import Workspace, branch_for
from tests.conftest import MemoryPullRequests, git
from tests.fixer_repo import fix_request, make_calc_repo


@pytest.mark.parametrize(
    "name",
    [
        "-x",  # an option
        "--upload-pack=touch /tmp/x",  # an option that runs a program
        "a..b",  # a range
        "main lock",  # whitespace
        "main.lock",  # git's own lock file name
        "topic/",  # ends with a slash
        "a:b",  # a refspec
        "",  # nothing
    ],
)
def test_unsafe_ref_names_are_refused(name: str) -> None:
    with pytest.raises(FixerError, match="refusing the git ref name"):
        safe_ref(name)


@pytest.mark.parametrize(
    ("name", "read"),
    [
        ("--output=PWNED", lambda repo, ref: gitread.recent_commits(repo, ref, "app/calc.py")),  # an option to git log
        (
            "-L1,1:app/calc.py",
            lambda repo, ref: gitread.blame(repo, ref, "app/calc.py", 1, 1),
        ),  # an option to git blame
        ("--output=PWNED", lambda repo, ref: gitread.resolve_commit(repo, ref)),  # a branch that is an option
        ("main..HEAD", lambda repo, ref: gitread.recent_commits(repo, ref, "app/calc.py")),  # a range
        ("main:app/calc.py", lambda repo, ref: gitread.read_blob(repo, ref)),  # a path inside a commit
        ("main~1", lambda repo, ref: gitread.tree(repo, ref)),  # a relative ref: the one rule refuses "~"
    ],
)
def test_reading_history_refuses_unsafe_refs(tmp_path: Path, name: str, read: Callable[[Path, str], object]) -> None:
    # The read side (repository context) and the write side (the fixer) share gitcmd.safe_ref.
    source = make_calc_repo(tmp_path / "calc")
    with pytest.raises(FixerError, match="refusing the git ref name"):
        read(source, name)
    assert not list(tmp_path.rglob("PWNED"))


@pytest.mark.parametrize("name", ["main", "release/1.2", "healer/INC-20261122-0001"])
def test_ordinary_ref_names_pass(name: str) -> None:
    assert safe_ref(name) == name


@pytest.mark.parametrize("incident", ["-INC-20261122-0001", "INC-20261122-0001/../../main", "--all", "INC-1 x"])
def test_bot_branches_come_only_from_incident_ids(incident: str) -> None:
    with pytest.raises(FixerError, match="expected INC-YYYYMMDD-NNNN"):
        branch_for(incident)


@pytest.mark.parametrize("branch", ["--upload-pack=touch PWNED", "-q", "main;touch PWNED"])
def test_a_default_branch_that_looks_like_an_option_runs_nothing(tmp_path: Path, branch: str) -> None:
    source = make_calc_repo(tmp_path / "calc")
    bare = ensure_bare_remote(str(source), tmp_path / "forge.git")
    with pytest.raises((FixerError, ValidationError)):
        spec = RepoSpec(name="calc", path=source, default_branch=branch)
        Fixer(Workspace(tmp_path / "ws")).submit(
            spec,
            fix_request(Change(edits=[Edit(path="x.py", create="x = 1\n")])),
            LocalForge("calc", bare, MemoryPullRequests()),
        )
    assert not list(tmp_path.rglob("PWNED"))
    assert git(bare, "for-each-ref", "--format=%(refname)", "refs/heads").split() == ["refs/heads/main"]


def test_file_names_that_look_like_options_are_only_file_names(tmp_path: Path) -> None:
    # "--" comes before every path handed to git, so these are files, not flags to git add or commit.
    source = make_calc_repo(tmp_path / "calc")
    bare = ensure_bare_remote(str(source), tmp_path / "forge.git")
    records = MemoryPullRequests()
    names = ["--all", "-n", "--amend.txt"]
    change = Change(edits=[Edit(path=name, create="x\n") for name in names])
    result = Fixer(Workspace(tmp_path / "ws")).submit(
        RepoSpec(name="calc", path=source), fix_request(change), LocalForge("calc", bare, records)
    )
    changed = git(bare, "diff", "--name-only", "main", result.commit).split("\n")
    assert sorted(filter(None, changed)) == sorted(names)
    assert git(bare, "rev-list", "--count", f"main..{result.commit}").strip() == "1"
