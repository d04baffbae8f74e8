"""Repository context: the window, history, blame and tests around a failure; paths guarded."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fixer.errors import PathOutsideRepo
from server.config import RepoConfig
from server.errors import FileNotInRepo
from server.fixing.repo_context import build_context, check_path
from server.models import Incident, Severity, StackFrame, Status
from tests.conftest import git, make_repo


def spec(path: Path) -> RepoConfig:
    return RepoConfig(name="payments", path=path, test_command="pytest -q")


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("../etc/passwd", "'..' would leave the repository"),
        ("app/../../secret", "'..' would leave the repository"),
        ("/etc/passwd", "absolute paths"),
        ("C:/Windows/system.ini", "absolute paths"),
        ("~/.ssh/id_rsa", "absolute paths"),
        (".git/config", "nothing under .git/"),
        ("app/.GIT/hooks/pre-commit", "nothing under .git/"),
        ("", "empty"),
        ("app/\0x", "NUL"),
    ],
)
def test_path_guard(path: str, reason: str) -> None:
    with pytest.raises(PathOutsideRepo, match=reason):
        check_path(path)


def test_window_history_blame_and_tests(payments_repo: Path, tmp_path: Path) -> None:
    context = build_context(spec(payments_repo), tmp_path, file_path="./app/db.py", line=41)
    assert context.file_path == "app/db.py"
    assert (context.start_line, context.end_line, context.total_lines) == (16, 41, 41)
    assert context.content is not None
    assert context.content.splitlines()[-1] == "41|     raise RuntimeError('pool exhausted')"
    assert [c.subject for c in context.recent_commits] == ["initial"]
    assert context.blame[0].start_line == 16 and context.blame[-1].end_line == 41
    assert context.related_tests == ["tests/test_db.py"]
    assert (context.default_branch, context.test_command) == ("main", "pytest -q")


def test_reads_the_default_branch_not_the_working_tree(payments_repo: Path, tmp_path: Path) -> None:
    (payments_repo / "app/db.py").write_text("uncommitted scribbles\n")
    context = build_context(spec(payments_repo), tmp_path, file_path="app/db.py", line=41)
    assert context.content is not None and "uncommitted" not in context.content


def test_incident_frames_choose_the_file(payments_repo: Path, tmp_path: Path) -> None:
    incident = Incident(
        id="INC-20261122-0001",
        fingerprint="f",
        source="api",
        service="payments",
        title="t",
        severity=Severity.high,
        status=Status.claimed,
        first_seen="2026-11-22T09:00:00Z",
        last_seen="2026-11-22T09:00:00Z",  # type: ignore[arg-type]
        trace_id="t",
        updated_at="2026-11-22T09:00:00Z",  # type: ignore[arg-type]
        stack_frames=[
            StackFrame(filename="/srv/app/api.py", lineno=5, function="handler"),
            StackFrame(filename="/srv/app/db.py", lineno=41, function="connect"),
            StackFrame(filename="/usr/lib/python3.11/site-packages/x.py", lineno=1),
        ],
    )
    context = build_context(spec(payments_repo), tmp_path, incident=incident)
    assert context.file_path == "app/db.py" and context.end_line == 41
    assert [f.repo_path for f in context.stack_frames] == ["app/api.py", "app/db.py", None]
    # What the report said of each frame reaches the agent fenced; the path found in the repository does not.
    assert context.stack_frames[1].function == "<untrusted-incident-data>\nconnect\n</untrusted-incident-data>"
    assert context.stack_frames[1].filename.startswith("<untrusted-incident-data>")


def test_missing_file_suggests_close_names(payments_repo: Path, tmp_path: Path) -> None:
    with pytest.raises(FileNotInRepo, match=r"Did you mean: app/db\.py"):
        build_context(spec(payments_repo), tmp_path, file_path="app/dbb.py")


def test_symlink_inside_is_followed_and_escape_is_refused(payments_repo: Path, tmp_path: Path) -> None:
    os.symlink("db.py", payments_repo / "app/link.py")
    os.symlink("/etc", payments_repo / "etc")
    os.symlink("../../outside", payments_repo / "app/up")
    git(payments_repo, "add", "-A")
    git(payments_repo, "commit", "-q", "-m", "links")
    inside = build_context(spec(payments_repo), tmp_path, file_path="app/link.py")
    assert inside.file_path == "app/db.py"
    with pytest.raises(PathOutsideRepo, match="symlink to an absolute path"):
        build_context(spec(payments_repo), tmp_path, file_path="etc/passwd")
    with pytest.raises(PathOutsideRepo, match="symlink that leaves the repository"):
        build_context(spec(payments_repo), tmp_path, file_path="app/up/x")


def test_branch_named_like_an_option_is_refused(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {"a.py": "x\n"})
    with pytest.raises(ValueError, match="does not start with '-'"):
        RepoConfig(name="r", path=repo, default_branch="--output=/tmp/x")
