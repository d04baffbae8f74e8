"""Every policy rule refuses by name, before anything is written: repository, cache and forge unchanged."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fixer.errors import ChangeRefused
from fixer.forge_local import LocalForge, ensure_bare_remote
from fixer.models import Change, Edit, PolicyConfig, RepoSpec
from fixer.pipeline import Fixer
from fixer.workspace import Workspace
from tests.conftest import MemoryPullRequests, git
from tests.fixer_repo import fix_request, make_calc_repo, snapshot

TOKEN = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
SYMLINK_DIFF = """diff --git a/app/link b/app/link
new file mode 120000
index 0000000..3c4e6b2
--- /dev/null
+++ b/app/link
@@ -0,0 +1 @@
+/etc/passwd
\\ No newline at end of file
"""
BINARY_DIFF = """diff --git a/app/blob.bin b/app/blob.bin
new file mode 100644
index 0000000..1b2c3d4
GIT binary patch
literal 4
LcmZQzWMT#Y01f~L

literal 0
HcmV?d00001
"""
# The workflow's path C-quoted as git quotes unusual names ("\\142" is "b"): git apply writes
# .github/workflows/ci.yml, so the policy must read the header the same way.
QUOTED_WORKFLOW_DIFF = """diff --git "a/.githu\\142/workflows/ci.yml" "b/.githu\\142/workflows/ci.yml"
index 1111111..2222222 100644
--- "a/.githu\\142/workflows/ci.yml"
+++ "b/.githu\\142/workflows/ci.yml"
@@ -1 +1 @@
-on: push
+on: [push, workflow_dispatch]
"""
# Headers without a/ b/ prefixes: git strips one component (-p1) and would write calc.py, not app/calc.py.
UNPREFIXED_DIFF = """--- app/calc.py
+++ app/calc.py
@@ -5 +5 @@
-    return a - b
+    return a + b
"""


def edit(path: str, content: str) -> Change:
    return Change(edits=[Edit(path=path, create=content)])


# (rule named in the refusal, the change, policy overrides)
CASES = [
    ("path-inside-repo", edit("../outside.py", "x = 1\n"), {}),  # climbs out of the repository
    ("path-inside-repo", edit("/etc/cron.d/job", "x\n"), {}),  # absolute path
    ("path-inside-repo", edit(".git/hooks/pre-commit", "#!/bin/sh\n"), {}),  # git's own files
    ("path-inside-repo", edit("vendor/evil.py", "x = 1\n"), {}),  # vendor is a symlink to /tmp (see fixture)
    ("path-inside-repo", Change(diff=SYMLINK_DIFF), {}),  # the diff would create a symlink
    ("deny-list", edit(".github/workflows/ci.yml", "on: [push]\n"), {}),  # CI workflows
    ("deny-list", edit(".github/actions/setup/action.yml", "runs: {}\n"), {}),  # actions the workflows run
    ("deny-list", edit(".gitattributes", "*.py filter=x\n"), {}),  # git's filter drivers
    ("deny-list", edit(".gitmodules", "[submodule]\n"), {}),  # where submodules come from
    ("path-inside-repo", edit("app/evil\0.py", "x = 1\n"), {}),  # a NUL byte in a path
    ("path-inside-repo", edit("app/evil\n.py", "x = 1\n"), {}),  # a newline in a path
    ("deny-list", edit("config/.env.production", "A=1\n"), {}),  # env files anywhere
    ("deny-list", edit("certs/server.pem", "cert\n"), {}),  # keys and certificates
    ("deny-list", Change(diff=QUOTED_WORKFLOW_DIFF), {}),  # a quoted header names the workflow too
    ("path-inside-repo", Change(diff=UNPREFIXED_DIFF), {}),  # headers and git disagree on the path
    ("deny-list", edit(".coderabbit.yaml", "reviews: {}\n"), {}),  # the reviewer's own settings
    ("deny-list", edit("CODEOWNERS", "* @someone\n"), {}),  # who must review
    ("deny-list", edit("app/custom.txt", "x\n"), {"extra_deny": ["app/*.txt"]}),  # a repo's own rule
    ("no-binary", Change(diff=BINARY_DIFF), {}),  # binary patch
    ("no-binary", edit("app/data.py", "x = 1\0\n"), {}),  # NUL bytes in text
    ("max-files", Change(edits=[Edit(path=f"app/m{n}.py", create="x = 1\n") for n in range(3)]), {"max_files": 2}),
    ("max-changed-lines", edit("app/big.py", "x = 1\n" * 50), {"max_changed_lines": 10}),
    ("max-file-bytes", edit("app/big.py", "#" * 3000 + "\n"), {"max_file_bytes": 1000}),
    ("secret-in-change", edit("app/settings.py", f'TOKEN = "{TOKEN}"\n'), {}),  # a GitHub token
    ("secret-in-change", edit("app/db.py", 'URL = "postgres://app:hunter2x@db/app"\n'), {}),  # password in a URL
    ("secret-in-change", edit("app/conf.py", 'api_key = "abcd1234efgh5678"\n'), {}),  # a hard-coded credential
]


@pytest.mark.parametrize(("rule", "change", "overrides"), CASES)
def test_rule_refuses_and_nothing_is_written(tmp_path: Path, rule: str, change: Change, overrides: dict) -> None:
    source = make_calc_repo(tmp_path / "calc")
    os.symlink("/tmp", source / "vendor")
    git(source, "add", "-A")
    git(source, "commit", "-q", "-m", "vendor link")
    bare = ensure_bare_remote(str(source), tmp_path / "forge.git")
    records = MemoryPullRequests()
    workspace = Workspace(tmp_path / "ws")
    spec = RepoSpec(name="calc", path=source, policy=PolicyConfig(**overrides))
    request = fix_request(change, "INC-20261122-0007")
    cache = workspace.cache_dir(spec)
    before_source, before_bare = snapshot(source), snapshot(bare)
    with pytest.raises(ChangeRefused) as caught:
        Fixer(workspace).submit(spec, request, LocalForge("calc", bare, records))
    assert f"`{rule}`" in str(caught.value)
    assert snapshot(source) == before_source and snapshot(bare) == before_bare
    assert git(bare, "for-each-ref", "--format=%(refname)", "refs/heads").split() == ["refs/heads/main"]
    assert git(cache, "for-each-ref", "--format=%(refname)", "refs/heads").split() == []
    assert not list((tmp_path / "ws").glob("attempt-*")) and records.calls == []
    assert not (tmp_path / "outside.py").exists()


@pytest.mark.parametrize(
    ("header", "path"),
    [
        ('"a/.githu\\142/workflows/ci.yml"', ".github/workflows/ci.yml"),  # octal escape
        ('"b/caf\\303\\251.py"', "café.py"),  # UTF-8 bytes, as git quotes them by default
        ('"a/tab\\there.txt"', "tab\there.txt"),  # C escapes
        ('"a/q\\"uote.txt"', 'q"uote.txt'),  # an escaped quote
        ("a/plain.py", "plain.py"),  # not quoted: as written
    ],
)
def test_diff_headers_are_read_as_git_reads_them(header: str, path: str) -> None:
    from fixer.change import parse_diff

    (item,) = parse_diff(f"--- {header}\n+++ {header}\n@@ -1 +1 @@\n-a\n+b\n")
    assert item.path == path
