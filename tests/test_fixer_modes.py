"""File modes as git reads them: every spelling of a symlink, a submodule or an odd mode is refused
before git applies anything, and the repository, the cache and the forge stay as they were."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from fixer.errors import ChangeRefused
from fixer.forge_local import LocalForge, ensure_bare_remote
from fixer.models import Change, Edit, RepoSpec
from fixer.pipeline import Fixer
from fixer.workspace import Workspace
from tests.conftest import MemoryPullRequests, git
from tests.fixer_repo import fix_request, make_calc_repo, snapshot


def created(mode_line: str, path: str = "app/link") -> str:
    """A diff that creates ``path`` holding "../../etc/passwd", with ``mode_line`` as written."""
    return (
        f"diff --git a/{path} b/{path}\n{mode_line}\nindex 0000000..3c4e6b2\n--- /dev/null\n+++ b/{path}\n"
        "@@ -0,0 +1 @@\n+../../etc/passwd\n\\ No newline at end of file\n"
    )


def changed(new_mode: str) -> str:
    """A diff that turns the existing README.md into a symlink (or whatever ``new_mode`` says)."""
    return (
        f"diff --git a/README.md b/README.md\nold mode 100644\nnew mode {new_mode}\nindex 1111111..2222222\n"
        "--- a/README.md\n+++ b/README.md\n@@ -1 +1 @@\n-calc\n+/etc/passwd\n\\ No newline at end of file\n"
    )


SPELLINGS = {
    "plain": "new file mode 120000",
    "leading zero": "new file mode 0120000",
    "many leading zeros": "new file mode 0000120000",
    "trailing space": "new file mode 120000 ",
    "trailing tab": "new file mode 120000\t",
    "trailing carriage return": "new file mode 120000\r",
    "two spaces before": "new file mode  120000",
    "a tab before": "new file mode \t120000",
    "a plus sign": "new file mode +120000",
    "words after": "new file mode 120000 regular file",
    "permission bits": "new file mode 120777",
    "file then symlink": "new file mode 100644\nnew mode 120000 ",
    "gitlink": "new file mode 160000",
    "gitlink, leading zero": "new file mode 0160000",
    "a folder": "new file mode 040000",
    "no type": "new file mode 644",
    "group-writable": "new file mode 100664",
}
CHANGES = {
    "mode change to a symlink, trailing space": changed("120000 "),
    "mode change to a symlink, leading zero": changed("0120000"),
    "mode change to a gitlink": changed("160000\t"),
}
ALL = {**{name: created(line) for name, line in SPELLINGS.items()}, **CHANGES}


@pytest.mark.parametrize("text", ["120000", "0120000", "120000 ", "120000\t", " 120000", "+120000", "120000\r"])
def test_modes_are_read_as_git_reads_them(text: str) -> None:
    from fixer.change import git_mode

    assert git_mode(text) == 0o120000


@pytest.mark.parametrize("text", ["120000x", "", "x", "9", "-"])
def test_modes_git_cannot_read(text: str) -> None:
    from fixer.change import git_mode

    assert git_mode(text) is None


@pytest.mark.parametrize("name", [name for name in SPELLINGS if "120" in SPELLINGS[name]])
def test_git_itself_would_write_a_symlink(tmp_path: Path, name: str) -> None:
    repo = make_calc_repo(tmp_path / "calc")
    diff = created(SPELLINGS[name])
    subprocess.run(["git", "apply", "--index", "-"], cwd=repo, input=diff.encode(), check=True)
    assert git(repo, "ls-files", "-s", "app/link").startswith("120000 ")
    assert (repo / "app/link").is_symlink()


@pytest.mark.parametrize("name", list(ALL))
def test_odd_modes_are_refused_before_git_sees_them(tmp_path: Path, name: str) -> None:
    source = make_calc_repo(tmp_path / "calc")
    bare = ensure_bare_remote(str(source), tmp_path / "forge.git")
    records = MemoryPullRequests()
    workspace = Workspace(tmp_path / "ws")
    spec = RepoSpec(name="calc", path=source)
    cache = workspace.cache_dir(spec)
    before_source, before_bare = snapshot(source), snapshot(bare)
    with pytest.raises(ChangeRefused) as caught:
        Fixer(workspace).submit(
            spec, fix_request(Change(diff=ALL[name]), "INC-20261122-0007"), LocalForge("calc", bare, records)
        )
    assert "`path-inside-repo`" in str(caught.value)
    assert snapshot(source) == before_source and snapshot(bare) == before_bare
    assert git(bare, "for-each-ref", "--format=%(refname)", "refs/heads").split() == ["refs/heads/main"]
    assert git(cache, "for-each-ref", "--format=%(refname)", "refs/heads").split() == []
    assert not list((tmp_path / "ws").glob("attempt-*")) and records.calls == []


@pytest.mark.parametrize("mode", ["100644", "100755", "0100755", "100644 "])
def test_file_modes_are_accepted(tmp_path: Path, mode: str) -> None:
    source = make_calc_repo(tmp_path / "calc")
    bare = ensure_bare_remote(str(source), tmp_path / "forge.git")
    workspace = Workspace(tmp_path / "ws")
    spec = RepoSpec(name="calc", path=source)
    diff = created(f"new file mode {mode}", "app/notes.txt")
    result = Fixer(workspace).submit(
        spec, fix_request(Change(diff=diff), "INC-20261122-0007"), LocalForge("calc", bare, MemoryPullRequests())
    )
    listed = git(bare, "ls-tree", result.commit, "app/notes.txt")
    assert listed.split()[0] == ("100755" if "755" in mode else "100644")


def test_edits_cannot_write_into_a_submodule(tmp_path: Path) -> None:
    source = make_calc_repo(tmp_path / "calc")
    commit = git(source, "rev-parse", "HEAD").strip()
    git(source, "update-index", "--add", "--cacheinfo", f"160000,{commit},vendor/lib")
    git(source, "commit", "-q", "-m", "a submodule")
    bare = ensure_bare_remote(str(source), tmp_path / "forge.git")
    workspace = Workspace(tmp_path / "ws")
    spec = RepoSpec(name="calc", path=source)
    before = snapshot(bare)
    for path in ("vendor/lib", "vendor/lib/x.py"):
        change = Change(edits=[Edit(path=path, create="x = 1\n")])
        with pytest.raises(ChangeRefused, match="submodule"):
            Fixer(workspace).submit(
                spec, fix_request(change, "INC-20261122-0007"), LocalForge("calc", bare, MemoryPullRequests())
            )
    assert snapshot(bare) == before
